"""Generation speed (llama-bench tg128 at depth 0) for a device and a model nobody measured together, on one llama.cpp
backend, learned from the record's canonical figures (harness/aggregate/canonical.py).

The model is a roofline with a fixed cost per token: the time to generate one token is
    a x (weight bytes read per token / the device's peak bandwidth) + c
where a >= 1 is how far the kernels fall short of the peak bandwidth and c the fixed time every token costs (kernel
launches, synchronisation, sampling), fitted (Theil-Sen: the median of pairwise slopes, robust to one odd upload) on the
measured devices of a vendor and kind on one backend. A fast card on a small model is bound by c, a slow card on a big
one by its bandwidth: one efficiency for every device cannot say both. Bytes per token are the file, or the active
share of a mixture of experts, from catalogue models only, and only where the model fits the device (a model spilled
into system memory measures the spill, not the device).

A prediction comes from the first level that has data, on the backend asked for:
  1. the device itself, on other models: its measured tg128 over the fit's at the model nearest in size (else its
     converted figure's, named), that ratio carried to this model;
  2. devices of the same vendor and kind measured on that backend: the fit at this device's bandwidth and this model;
  3. devices of the same kind on that backend;
  4. every device measured on that backend (a DGX Spark's GB10 among the CUDA cards), said so.
Peers are measured figures only: a figure converted from another tool never teaches another device. A mixture of
experts takes its own fit where at least MIN_MOE_PEERS devices ran one, else the dense fit times the mixture-of-experts
factor measured on the devices that ran both. Each prediction carries a range (the 10th to 90th percentile of the
measured over fitted ratios of each peer against the fit of the others at levels 2-4; at level 1 how well the ratio
carries between models on the devices with several, else the peers' spread) and names its basis. bench/predict_loo.py measures the method.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.aggregate.canonical import backends_of
from harness.catalogue.hardware import Device
from harness.catalogue.models import CatalogModel
from harness.results.stats import percentiles

ASSUMED_EFFICIENCY = 0.6  # share of peak bandwidth llama.cpp generation typically reaches; used only without data
MIN_MOE_PEERS = 3  # mixture-of-experts cells from fewer devices give way to the dense fit x the factor
MIN_RANGE_POINTS = 3  # a range needs this many ratios (min-max under 5, the 10th-90th percentile from 5)
SUSPECT_SHARE = 1 / 3  # own figure under this share of its peers' fit is set aside (see Predictor._from_own)


@dataclass(frozen=True)
class Prediction:
    tg: float
    low: float
    high: float
    level: str
    basis: str
    runtime: str


def ideal_seconds(bpt: float, bandwidth_gbs: float) -> float:
    """Seconds per token at the device's peak bandwidth."""
    return bpt / (bandwidth_gbs * 1e9)


@dataclass(frozen=True)
class Fit:
    """Seconds per token = slope x ideal seconds + overhead, on `devices` devices and `models` models."""

    slope: float
    overhead: float
    devices: int
    models: int

    def rate(self, bpt: float, bandwidth_gbs: float) -> float:
        return 1 / (self.slope * ideal_seconds(bpt, bandwidth_gbs) + self.overhead)

    def describe(self) -> str:
        return f"{1 / self.slope:.0%} of bandwidth + {self.overhead * 1e3:.2g} ms per token"


def fit(cells: pd.DataFrame) -> Fit | None:
    """Theil-Sen fit of seconds per token on ideal seconds per token; a plain efficiency (no overhead) where the cells
    cannot place a line (one point, or a slope below 1 or overhead below 0, which physics rules out)."""
    if cells.empty:
        return None
    x = np.array([ideal_seconds(b, w) for b, w in zip(cells["norm"], cells["bandwidth_gbs"])])
    y = 1 / cells["ts"].to_numpy(dtype=float)
    slopes = [
        (y[j] - y[i]) / (x[j] - x[i]) for i, j in itertools.combinations(range(len(x)), 2) if abs(x[j] - x[i]) > 1e-3 * x[i]
    ]
    devices, models = cells["device_id"].nunique(), cells["model"].nunique()
    if slopes:
        slope = float(np.median(slopes))
        overhead = float(np.median(y - slope * x))
        if slope >= 1 and overhead >= 0:
            return Fit(slope, overhead, devices, models)
    return Fit(max(1.0, float(np.median(y / x))), 0.0, devices, models)


def spread(ratios: list[float]) -> tuple[float, float]:
    if len(ratios) < MIN_RANGE_POINTS:
        return math.nan, math.nan
    if len(ratios) < 5:
        return min(ratios), max(ratios)
    low, high = percentiles(ratios, [10, 90])
    return low, high


def _fitted(row, model_fit: Fit) -> float:
    return model_fit.rate(row.norm, row.bandwidth_gbs)


class Predictor:
    """Predictions from canonical tg cells: measured ones teach every level, converted ones only the device's own
    level 1. Build it once, ask it for many device-model pairs."""

    def __init__(self, measured: pd.DataFrame, converted: pd.DataFrame | None = None):
        self.cells = measured
        self.converted = converted if converted is not None else measured.iloc[0:0]
        self._own = {key: group for key, group in measured.groupby(["runtime", "device_id"])} if not measured.empty else {}
        self._own_converted = (
            {key: group for key, group in self.converted.groupby(["runtime", "device_id"])} if not self.converted.empty else {}
        )
        self._present = set(measured["device_id"]) | set(self.converted["device_id"]) if not measured.empty else set()

    def _excluded(self, device_id: str) -> str:
        """The device to leave out of a peer scope: none when it has no cell (the scope is the same, and so is the
        cache entry, for every device never measured)."""
        return device_id if device_id in self._present else ""

    @functools.cache  # noqa: B019  (one predictor per command; the cache lives as long as it)
    def _scope(self, runtime: str, level: str, key: str, moe: bool, exclude: str, converted: bool = False) -> pd.DataFrame:
        cells = self.converted if converted else self.cells
        if cells.empty:
            return cells
        column = {"vendor and kind": "group", "kind": "kind", "backend": "runtime"}[level]
        return cells[
            (cells["runtime"] == runtime) & (cells[column] == key) & (cells["moe"] == moe) & (cells["device_id"] != exclude)
        ]

    @functools.cache  # noqa: B019
    def _fit(self, runtime: str, level: str, key: str, moe: bool, exclude: str, converted: bool = False) -> Fit | None:
        return fit(self._scope(runtime, level, key, moe, exclude, converted))

    @functools.cache  # noqa: B019
    def _held_out_ratios(self, runtime: str, level: str, key: str, moe: bool, exclude: str) -> list[float]:
        """Each peer's measured rate over the fit of the others: the error a prediction for a new device makes."""
        peers = self._scope(runtime, level, key, moe, exclude)
        ratios = []
        for device_id, own in peers.groupby("device_id"):
            others = fit(peers[peers["device_id"] != device_id])
            ratios += [row.ts / _fitted(row, others) for row in own.itertuples()] if others is not None else []
        return ratios

    @functools.cache  # noqa: B019
    def moe_factor(self) -> tuple[float, int] | None:
        """A mixture of experts' rate over the dense rate at the same bytes per token on the same device (its dense fit's
        shape carried at its own level), on the devices that ran both on one backend: median, and how many pairs. The
        routing and the shared weights every token reads cost a mixture of experts time the active bytes do not show."""
        ratios = []
        for (runtime, _), own in self.cells.groupby(["runtime", "device_id"]) if not self.cells.empty else []:
            dense, moe = own[~own["moe"]], own[own["moe"]]
            if dense.empty or moe.empty:
                continue
            shape = self._fit(runtime, "backend", runtime, False, "") or fit(dense)
            assert shape is not None
            level = float(np.median([row.ts / _fitted(row, shape) for row in dense.itertuples()]))
            ratios += [row.ts / (_fitted(row, shape) * level) for row in moe.itertuples()]
        return (float(np.median(ratios)), len(ratios)) if ratios else None

    def _moe_carry(self, model: CatalogModel, from_moe: bool) -> tuple[float, str]:
        """Carrying a figure (a device's own, or its peers' fit) between a dense model and a mixture of experts: the
        measured factor, either way."""
        if model.moe == from_moe:
            return 1.0, ""
        factor = self.moe_factor()
        if factor is None:
            return 1.0, "; no mixture of experts measured: carried as if dense"
        if model.moe:
            return factor[0], f"; x{factor[0]:.2f} for a mixture of experts ({factor[1]} device-model pairs)"
        return 1 / factor[0], f"; /{factor[0]:.2f} from a mixture of experts to a dense model ({factor[1]} device-model pairs)"

    @functools.cache  # noqa: B019
    def _shape(self, runtime: str, group: str, kind: str) -> tuple[Fit | None, str]:
        """The fit that carries a device's own ratio from one model to another (dense): the first with at least 3
        devices among this backend's vendor-and-kind, kind, every device on it; measured figures, then converted."""
        for converted in (False, True):
            for level, key in (("vendor and kind", group), ("kind", kind), ("backend", runtime)):
                cells = self._scope(runtime, level, key, False, "", converted)
                if cells["device_id"].nunique() >= 3:
                    found = self._fit(runtime, level, key, False, "", converted)
                    what = "converted" if converted else "measured"
                    return found, f"the {key} fit ({runtime}, {found.describe()}, {what} on {found.devices} devices)"  # type: ignore[union-attr]
        return None, "no fit (fewer than 3 devices): its efficiency held"

    @functools.cache  # noqa: B019
    def _own_spread(self, runtime: str, group: str, kind: str) -> tuple[float, float]:
        """How well level 1 carries a device's ratio between models: measured over carried, on the devices of the
        shape's scope with several models."""
        shape, _ = self._shape(runtime, group, kind)
        ratios: list[float] = []
        if shape is None or self.cells.empty:
            return spread(ratios)
        for _, own in self.cells[self.cells["runtime"] == runtime].groupby("device_id"):
            for row in own.itertuples():
                others = own[own["model"] != row.model]
                if others.empty:
                    continue
                near = others.iloc[int(np.argmin(np.abs(np.log(others["norm"].to_numpy() / row.norm))))]
                carried = _fitted(row, shape) * near["ts"] / shape.rate(near["norm"], near["bandwidth_gbs"])
                ratios.append(row.ts / carried)
        return spread(ratios)

    def own(
        self, device: Device, model: CatalogModel, runtime: str, bpt: float, converted: bool = False
    ) -> Prediction | str | None:
        """Level 1 from the device's measured (or converted) cells on other models; a string says why they are set aside."""
        own = (self._own_converted if converted else self._own).get((runtime, device.id))
        own = own[own["model"] != model.id] if own is not None else None
        if own is None or own.empty:
            return None
        return self._from_own(own, "converted" if converted else "measured", device, model, runtime, bpt)

    def _from_own(self, own, what, device, model, runtime, bpt) -> Prediction | str:
        """Level 1, or why the device's own record is set aside: far below its peers (under a third of the fit of at
        least 3 other devices at that model), it likely did not run on that device (a CPU fallback, a spill)."""
        group = f"{device.vendor} {device.kind}"
        same = own[own["moe"] == model.moe]
        pool = same if not same.empty else own[~own["moe"]]
        pool = pool if not pool.empty else own
        near = pool.iloc[int(np.argmin(np.abs(np.log(pool["norm"].to_numpy() / bpt))))]
        others = self._scope(runtime, "vendor and kind", group, bool(near["moe"]), self._excluded(device.id))
        peer_fit = self._fit(runtime, "vendor and kind", group, bool(near["moe"]), self._excluded(device.id))
        if (
            others["device_id"].nunique() >= 3
            and peer_fit
            and near["ts"] < SUSPECT_SHARE * peer_fit.rate(near["norm"], device.bandwidth_gbs)
        ):
            return (
                f"; its own {what} tg128 on {near['model']} ({runtime}) is under a third of "
                f"{others['device_id'].nunique()} peers' fit and set aside"
            )
        shape, shape_name = self._shape(runtime, group, device.kind)
        if shape is not None:
            carried = near["ts"] / shape.rate(near["norm"], device.bandwidth_gbs) * shape.rate(bpt, device.bandwidth_gbs)
        else:
            carried = near["ts"] * near["norm"] / bpt
        factor, moe_note = self._moe_carry(model, bool(near["moe"]))
        tg = carried * factor
        low, high = self._own_spread(runtime, group, device.kind)
        if math.isnan(low):  # no device with several models to say how well a ratio carries: the peers' spread, wider
            low, high = spread(self._held_out_ratios(runtime, "vendor and kind", group, False, ""))
        if what == "converted":
            transfer = near["transfer"]
            low, high = low * transfer.low / transfer.factor, high * transfer.high / transfer.factor
            source = f"its {near['quantity']} converted from {transfer.source_label} x {transfer.factor:.2f}"
        else:
            source = "its own measured tg128"
        basis = (
            f"predicted: {source} on {near['model']} ({runtime}, {near['ts']:.3g} t/s), carried to this model along "
            f"{shape_name}{moe_note}"
        )
        return Prediction(tg, tg * low, tg * high, "own device", basis, runtime)

    def peers(self, device: Device, model: CatalogModel, runtime: str, bpt: float, set_aside: str = "") -> Prediction | None:
        """Levels 2 and 3: the measured devices of its vendor and kind, else of its kind, on this backend."""
        for level, key in (("vendor and kind", f"{device.vendor} {device.kind}"), ("kind", device.kind), ("backend", runtime)):
            if peer := self._from_peers(level, key, device, model, runtime, bpt, set_aside):
                return peer
        return None

    def peer_rate(self, device: Device, model: CatalogModel, runtime: str, bpt: float) -> float | None:
        """What the peers' fit says, for checking a device's own converted figure against."""
        found = self.peers(device, model, runtime, bpt)
        return found.tg if found is not None else None

    def _from_peers(self, level, key, device, model, runtime, bpt, set_aside) -> Prediction | None:
        exclude = self._excluded(device.id)
        moe = model.moe and self._scope(runtime, level, key, True, exclude)["device_id"].nunique() >= MIN_MOE_PEERS
        peers = self._scope(runtime, level, key, bool(moe), exclude)
        if peers.empty:
            return None
        found = self._fit(runtime, level, key, bool(moe), exclude)
        assert found is not None
        factor, moe_note = self._moe_carry(model, bool(peers["moe"].any()))
        tg = found.rate(bpt, device.bandwidth_gbs) * factor
        low, high = spread(self._held_out_ratios(runtime, level, key, bool(moe), exclude))
        basis = (
            f"predicted: {found.describe()} at its bandwidth, fitted on {found.devices} {key} device(s) measured "
            f"({runtime}, {found.models} model(s)){moe_note}{set_aside}"
        )
        return Prediction(tg, tg * low, tg * high, level, basis, runtime)

    def assumed(self, device: Device, bpt: float) -> Prediction:
        tg = device.bandwidth_gbs * 1e9 / bpt * ASSUMED_EFFICIENCY
        basis = f"predicted: bandwidth x an assumed {ASSUMED_EFFICIENCY:.0%} efficiency (no tg128 measured on any {device.kind})"
        return Prediction(tg, math.nan, math.nan, "assumed", basis, backends_of(device)[0])
