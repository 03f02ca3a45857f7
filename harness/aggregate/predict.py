"""Generation speed for a device and a model nobody measured together, learned from the record.

The unit is bandwidth efficiency: generated t/s x weight bytes read per token / the device's peak bandwidth. It is
learned per test family (llama-bench's tg tests at depth 0 apart from LocalScore's averaged shapes: not the same test),
from catalogue models only (their active share is known, so a mixture of experts reads its active bytes, not its file),
and only where the model fits the device (a model spilled into system memory measures the spill, not the device).

A prediction comes from the first level that has data:
  1. the device itself, on other models: its efficiency on the model nearest in bytes per token, moved along the
     efficiency-by-size curve of its group (small models reach less of the bandwidth);
  2. devices of the same vendor and kind (NVIDIA GPUs, Apple unified, AMD CPUs, ...), at the model's bytes per token;
  3. devices of the same kind;
  4. an assumed efficiency, said so.
Dense and mixture-of-experts models are apart: a mixture of experts takes its own curve where one was measured, else
the dense curve times the mixture-of-experts factor measured on the devices that ran both. Each prediction carries a
range, the 10th to 90th percentile of the spread it rests on (between devices at level 2-3; of the level-1 transfer
on the group's devices with several models), and names its basis. bench/predict_loo.py measures the method.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from harness import memory_fit
from harness.catalogue.models import CatalogModel
from harness.machine.hardware import Device

ASSUMED_EFFICIENCY = 0.6  # share of peak bandwidth llama.cpp generation typically reaches; used only without data
FAMILIES = ("llama-bench tg", "LocalScore tg")  # preferred first
LEVELS = ("own device", "vendor and kind", "kind", "assumed")
MIN_MOE_PEERS = 3  # mixture-of-experts cells from fewer devices give way to the dense curve x the factor
SUSPECT_SHARE = 1 / 3  # own efficiency under this share of its peers' is set aside (see Predictor._from_own)
CELL_COLUMNS = ["family", "device_id", "kind", "group", "model", "moe", "bpt", "bandwidth_gbs", "eff", "ts", "machines"]


@dataclass(frozen=True)
class Prediction:
    tg: float
    low: float
    high: float
    level: str
    basis: str


def family_of(test: pd.Series, backend: pd.Series) -> pd.Series:
    return pd.Series(np.where(backend == "localscore", FAMILIES[1], FAMILIES[0]), index=test.index)


def per_token_bytes(model: CatalogModel) -> float:
    """Weight bytes read per generated token: the file, or the active share of a mixture of experts."""
    weights = memory_fit.model_need(model).weights
    return weights * model.params_active_b / model.params_total_b if model.moe else weights


def record_cells(runs: pd.DataFrame, models: dict[str, CatalogModel], devices: dict[str, Device]) -> pd.DataFrame:
    """One row per (test family, device, catalogue model): the median efficiency over the machines that measured it."""
    if runs.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    tg = runs[(runs["n_prompt"] == 0) & (runs["n_gen"] > 0) & (runs["n_depth"] == 0) & runs["device_id"].isin(devices)]
    tg = tg[tg["split"].fillna("") == ""]  # a model split across machines measures the split, not the device
    tg = tg[tg["model"].isin(models) & (tg["test"].str.fullmatch(r"tg\d+") | (tg["backend"] == "localscore"))]
    if tg.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    tg = tg.assign(family=family_of(tg["test"], tg["backend"]))
    per_machine = tg.groupby(["family", "device_id", "model", "machine_id"])["median_ts"].median().reset_index()
    rows = []
    for (family, device_id, model_id), group in per_machine.groupby(["family", "device_id", "model"]):
        device, model = devices[device_id], models[model_id]
        if not memory_fit.device_fits(device, memory_fit.model_need(model).total):
            continue
        bpt, ts = per_token_bytes(model), float(group["median_ts"].median())
        rows.append([family, device_id, device.kind, f"{device.vendor} {device.kind}", model_id, model.moe, bpt,
                     device.bandwidth_gbs, ts * bpt / (device.bandwidth_gbs * 1e9), ts, len(group)])  # fmt: skip
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def _curve(cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Efficiency against log bytes per token: the median over devices per model, sorted by size."""
    if cells.empty:
        return None
    per_model = cells.groupby("model").agg(bpt=("bpt", "first"), eff=("eff", "median")).sort_values("bpt")
    return np.log(per_model["bpt"].to_numpy()), per_model["eff"].to_numpy()


def _at(curve: tuple[np.ndarray, np.ndarray], bpt: float) -> float:
    return float(np.interp(math.log(bpt), curve[0], curve[1]))  # flat beyond the sizes measured


def _edge_note(curve: tuple[np.ndarray, np.ndarray] | None, bpt: float) -> str:
    """Said when the model is over twice outside the sizes the curve measured: efficiency is held at the edge there."""
    if curve is None:
        return ""
    low, high = math.exp(curve[0][0]), math.exp(curve[0][-1])
    if low / 2 <= bpt <= high * 2:
        return ""
    return f"; {bpt / 1e9:.2g} GB per token is outside the {low / 1e9:.2g}-{high / 1e9:.2g} GB measured, efficiency held at the edge"


class Predictor:
    """Predictions from a set of record cells (record_cells); build it once, ask it for many device-model pairs."""

    def __init__(self, cells: pd.DataFrame):
        self.cells = cells
        self._own = {key: group for key, group in cells.groupby(["family", "device_id"])} if not cells.empty else {}

    @functools.cache  # noqa: B019  (one predictor per command; the cache lives as long as it)
    def _scope(self, family: str, level: str, key: str, moe: bool, exclude: str) -> pd.DataFrame:
        column = {"vendor and kind": "group", "kind": "kind"}[level]
        cells = self.cells
        return cells[(cells["family"] == family) & (cells[column] == key) & (cells["moe"] == moe) & (cells["device_id"] != exclude)]

    @functools.cache  # noqa: B019
    def moe_factor(self) -> tuple[float, int] | None:
        """Mixture-of-experts efficiency over the dense efficiency at the same bytes per token, on the devices that ran
        both in one test family (median, and how many pairs): the routing and the shared weights a mixture of experts
        reads every token cost it a share of the bandwidth."""
        ratios = []
        for _, own in self.cells.groupby(["family", "device_id"]):
            dense = _curve(own[~own["moe"]])
            if dense is None:
                continue
            ratios += [row.eff / _at(dense, row.bpt) for row in own[own["moe"]].itertuples()]
        return (float(np.median(ratios)), len(ratios)) if ratios else None

    @functools.cache  # noqa: B019
    def _transfer_spread(self, family: str, group: str) -> tuple[float, float] | None:
        """How well level 1 transfers on the group's devices with several models: the 10th and 90th percentile of
        measured over transferred efficiency."""
        cells = self._scope(family, "vendor and kind", group, False, "")
        curve = _curve(cells)
        ratios = []
        for _, own in cells.groupby("device_id"):
            for row in own.itertuples():
                others = own[own["model"] != row.model]
                if curve is None or others.empty:
                    continue
                near = others.iloc[int(np.argmin(np.abs(np.log(others["bpt"].to_numpy()) - math.log(row.bpt))))]
                ratios.append(row.eff / (near["eff"] * _at(curve, row.bpt) / _at(curve, near["bpt"])))
        return (float(np.quantile(ratios, 0.1)), float(np.quantile(ratios, 0.9))) if len(ratios) >= 5 else None

    def predict(self, device: Device, model: CatalogModel) -> Prediction:
        """The generation speed of `model` on `device` from the best level with data (see the module's docstring)."""
        bpt = per_token_bytes(model)
        rate = device.bandwidth_gbs * 1e9 / bpt
        group = f"{device.vendor} {device.kind}"
        set_aside = ""
        for family in FAMILIES:
            own = self._own.get((family, device.id))
            own = own[own["model"] != model.id] if own is not None else None
            if own is not None and not own.empty:
                found = self._from_own(own, device, model, family, group, bpt, rate)
                if isinstance(found, Prediction):
                    return found
                set_aside = set_aside or found
        for level, key in (("vendor and kind", group), ("kind", device.kind)):
            for family in FAMILIES:
                if peer := self._from_peers(level, key, device, model, family, bpt, rate):
                    return replace(peer, basis=peer.basis + set_aside)
        tg = rate * ASSUMED_EFFICIENCY
        basis = f"prediction: bandwidth x assumed {ASSUMED_EFFICIENCY:.0%} efficiency{set_aside}"
        return Prediction(tg, math.nan, math.nan, "assumed", basis)

    def _moe_adjusted(self, model: CatalogModel, same_class: pd.DataFrame) -> tuple[float, str]:
        if not model.moe or same_class["moe"].any():
            return 1.0, ""
        factor = self.moe_factor()
        if factor is None:
            return 1.0, "; no mixture of experts measured: dense efficiency used"
        return factor[0], f"; x{factor[0]:.2f} for a mixture of experts ({factor[1]} device-model pairs)"

    def _from_own(self, own, device, model, family, group, bpt, rate) -> Prediction | str:
        """Level 1, or why the device's own record is set aside: far below its peers' (under a third of the curve of at
        least 3 other devices at that model's size), it likely did not run on that device (a CPU fallback, a spill)."""
        same = own[own["moe"] == model.moe]
        pool = same if not same.empty else own[~own["moe"]]
        pool = pool if not pool.empty else own
        near = pool.iloc[int(np.argmin(np.abs(np.log(pool["bpt"].to_numpy()) - math.log(bpt))))]
        others = self._scope(family, "vendor and kind", group, bool(near["moe"]), device.id)
        if others["device_id"].nunique() >= 3 and near["eff"] < SUSPECT_SHARE * _at(_curve(others), near["bpt"]):  # type: ignore[arg-type]
            return (f"; its own {near['eff']:.0%} efficiency on {near['model']} ({family}) is under a third of "
                    f"{others['device_id'].nunique()} peers' and set aside")  # fmt: skip
        curve, curve_name = self._size_curve(family, group, device.kind)
        shift = _at(curve, bpt) / _at(curve, near["bpt"]) if curve is not None else 1.0
        factor, moe_note = self._moe_adjusted(model, pool)
        tg = rate * near["eff"] * shift * factor
        spread = self._transfer_spread(family, group)
        low, high = (tg * spread[0], tg * spread[1]) if spread else (math.nan, math.nan)
        basis = (f"prediction: this device's own {near['eff']:.0%} efficiency on {near['model']} ({family}), "
                 f"moved to this model's size along {curve_name}{_edge_note(curve, bpt)}{moe_note}")  # fmt: skip
        return Prediction(tg, low, high, "own device", basis)

    @functools.cache  # noqa: B019
    def _size_curve(self, family: str, group: str, kind: str) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:
        """How efficiency changes with bytes per token (dense models): the first of this family's vendor-and-kind,
        this family's kind, then the other families' that rests on at least 3 models."""
        families = [family] + [f for f in FAMILIES if f != family]
        for name, level, key in [(f, lv, k) for f in families for lv, k in (("vendor and kind", group), ("kind", kind))]:
            cells = self._scope(name, level, key, False, "")
            if cells["model"].nunique() >= 3:
                return _curve(cells), f"the {key} curve ({name}, {cells['model'].nunique()} models)"
        return None, "no size curve (fewer than 3 models measured): efficiency held"

    def _from_peers(self, level, key, device, model, family, bpt, rate) -> Prediction | None:
        peers = self._scope(family, level, key, model.moe, device.id)
        factor, moe_note = 1.0, ""
        if model.moe and peers["device_id"].nunique() < MIN_MOE_PEERS:  # too few for a curve of their own
            peers = self._scope(family, level, key, False, device.id)
            factor, moe_note = self._moe_adjusted(model, peers)
        if peers.empty:
            return None
        curve = _curve(peers)
        assert curve is not None
        eff = _at(curve, bpt) * factor
        # between-device spread: each peer's efficiency over the curve at its own model, pooled
        ratios = [row.eff / _at(curve, row.bpt) for row in peers.itertuples()]
        low, high = np.quantile(ratios, [0.1, 0.9]) if len(ratios) >= 5 else (math.nan, math.nan)
        tg = rate * eff
        basis = (f"prediction: bandwidth x {eff:.0%} efficiency of {peers['device_id'].nunique()} {key} device(s) "
                 f"at this size ({family}){_edge_note(curve, bpt)}{moe_note}")  # fmt: skip
        return Prediction(tg, tg * low, tg * high, level, basis)


def predictor(runs: pd.DataFrame, models: list[CatalogModel] | None = None, devices: list[Device] | None = None) -> Predictor:
    from harness.catalogue.models import load_catalog
    from harness.machine.hardware import load_hardware

    by_id = {m.id: m for m in (models or load_catalog().models)}
    hardware = {d.id: d for d in (devices or load_hardware())}
    return Predictor(record_cells(runs, by_id, hardware))


