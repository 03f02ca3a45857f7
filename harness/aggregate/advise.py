"""The record's answer to which device to buy for a model and a budget (`meek advise`), in llama-bench's terms (tg128 and pp512 at depth 0, on
a named llama.cpp backend), each figure of one kind:

- measured: that test was run on that device with a llama.cpp build (the median over machines);
- converted: another tool's figure or another backend's on that device and model, through a transfer learned from
  devices measured both ways (harness/aggregate/canonical.py), named with its spread;
- predicted: from the record's efficiency model (harness/aggregate/predict.py), with a range and its basis.
The first kind that has a figure answers, in the order: measured on the model; predicted from the device's own
measured tg128 on another model; converted on the model; predicted from its own converted figures; predicted from
its peers' measurements; an assumed efficiency. A device's own llama-bench measurement outranks a conversion from
another tool, whose transfer carries the spread between devices; a converted figure far below what the measured
devices predict for it is set aside, named. Among one kind's backends the fastest is shown, and
named; `backend` picks one. Figures of other tools with no learned transfer are listed apart, never ranked.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from harness import memory_budget, memory_fit
from harness.aggregate.canonical import (
    CANONICAL,
    MIN_TRANSFER_DEVICES,
    RUNTIMES,
    Transfer,
    backends_of,
    converted_cells,
    learn_transfers,
    normalizer,
    record_cells,
)
from harness.aggregate.predict import Prediction, Predictor
from harness.catalogue.hardware import Device, load_hardware
from harness.catalogue.models import CatalogModel
from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.results.schema import Machine

NOT_LLAMA_CPP = "(not llama.cpp)"
# A converted figure under this share of what the devices measured with llama.cpp predict is set aside (Record._below_peers)
CONVERTED_SUSPECT = 0.6
APART_COLUMNS = ["device", "quantity", "backend", "t/s", "machines", "why apart"]


def backend_option(name: str | None) -> str | None:
    """--backend: a llama.cpp backend by name, any case."""
    if name is None:
        return None
    known = {b.lower(): b for b in RUNTIMES}
    if name.lower() not in known:
        raise UsageError(f"--backend: unknown backend '{name}' (choose {', '.join(RUNTIMES[:-1])} or {RUNTIMES[-1]})")
    return known[name.lower()]


@dataclass(frozen=True)
class Figure:
    """One canonical figure: its value, range, kind (measured, converted, predicted), backend and basis."""

    value: float
    low: float
    high: float
    kind: str
    runtime: str
    basis: str

    @property
    def range(self) -> str:
        return "" if math.isnan(self.low) else f"{self.low:.3g}-{self.high:.3g}"


def _from_prediction(found: Prediction) -> Figure:
    return Figure(found.tg, found.low, found.high, "predicted", found.runtime, found.basis)


class Record:
    """The record's canonical figures, built once from the runs: measured cells, learned transfers, converted cells,
    the efficiency model, and the other tools' figures that stay apart."""

    def __init__(self, runs: pd.DataFrame, models: list[CatalogModel] | None = None, devices: list[Device] | None = None):
        from harness.catalogue.models import load_catalog

        self.models = {m.id: m for m in (models or load_catalog().models)}
        self.devices = {d.id: d for d in (devices or load_hardware())}
        cells = record_cells(runs, self.models, self.devices)
        self.transfers: list[Transfer] = learn_transfers(cells)
        converted = converted_cells(cells, self.transfers)
        measured = cells[cells["canonical"]]
        self._measured = {key: group for key, group in measured.groupby(["family", "device_id", "model"])}
        self._converted = {key: group for key, group in converted.groupby(["family", "device_id", "model"])}
        self._other = {key: group for key, group in cells[~cells["canonical"]].groupby(["family", "device_id", "model"])}
        self.predictor = Predictor(measured[measured["family"] == "tg"], converted[converted["family"] == "tg"])

    def _pick(self, cells: pd.DataFrame | None, backend: str | None) -> pd.Series | None:
        if cells is None:
            return None
        cells = cells[cells["runtime"] == backend] if backend else cells
        return cells.loc[cells["ts"].idxmax()] if not cells.empty else None

    def transfer_table(self) -> pd.DataFrame:
        """Every transfer the record supports today, the ones in use (MIN_TRANSFER_DEVICES or more devices) first."""
        rows = [
            {
                "from": t.source_label,
                "to": f"llama-bench {CANONICAL[t.family]} ({t.runtime})",
                "vendor and kind": t.group,
                "factor": f"x{t.factor:.2f}",
                "10-90%": f"{t.low:.2f}-{t.high:.2f}",
                "devices": len(t.devices),
                "pairs": t.pairs,
                "in use": t.usable,
                "devices measured both ways": ", ".join(t.devices),
            }
            for t in self.transfers
        ]
        table = pd.DataFrame(rows)
        if table.empty:
            return table
        return table.sort_values(["in use", "devices", "from"], ascending=[False, False, True], kind="stable").reset_index(
            drop=True
        )

    def runtimes(self, device: Device, backend: str | None = None) -> list[str]:
        """The backends to answer on, best-known first: `backend` alone; else the device's backends, the one its vendor
        and kind measured faster (a usable transfer between backends above 1) first, else its native one."""
        if backend:
            return [backend]
        group = f"{device.vendor} {device.kind}"
        faster = {
            t.runtime
            for t in self.transfers
            if t.usable and t.family == "tg" and t.group == group and t.source == CANONICAL["tg"] and t.factor > 1
        }
        native = backends_of(device)[0]
        return sorted(backends_of(device), key=lambda r: (r not in faster, r != native))

    def answer(self, device: Device, model: CatalogModel, family: str = "tg", backend: str | None = None) -> Figure | None:
        """The canonical figure for the device and model (see the module's docstring for the order); None for pp where
        nothing was measured or converted (prompt speed is not predicted)."""
        key, test = (family, device.id, model.id), CANONICAL[family]
        if (cell := self._pick(self._measured.get(key), backend)) is not None:
            machines = f"{cell['machines']} machine{'s' if cell['machines'] > 1 else ''}"
            basis = f"measured: llama-bench {test} ({cell['runtime']}), {machines}: {cell['sources']}"
            return Figure(cell["ts"], cell["low"], cell["high"], "measured", cell["runtime"], basis)
        runtimes = self.runtimes(device, backend)
        if family != "tg":
            converted = next((c for r in runtimes if (c := self._pick(self._converted.get(key), r)) is not None), None)
            return self._converted_figure(converted) if converted is not None else None
        bpt = normalizer(model, "tg")
        set_aside = ""
        for r in runtimes:
            own = self.predictor.own(device, model, r, bpt)
            if isinstance(own, Prediction):
                return _from_prediction(own)
            set_aside = set_aside or own or ""
        for r in runtimes:
            if (converted := self._pick(self._converted.get(key), r)) is not None:
                if not (why := self._below_peers(device, model, r, bpt, converted["ts"], "converted figure")):
                    return self._converted_figure(converted)
                set_aside = set_aside or why
        for r in runtimes:
            if isinstance(own := self.predictor.own(device, model, r, bpt, converted=True), Prediction):
                if not (why := self._below_peers(device, model, r, bpt, own.tg, "figure carried from a converted one")):
                    return _from_prediction(own)
                set_aside = set_aside or why
        for r in runtimes:
            if peer := self.predictor.peers(device, model, r, bpt, set_aside):
                return _from_prediction(peer)
        assumed = self.predictor.assumed(device, bpt)
        return Figure(assumed.tg, math.nan, math.nan, "predicted", runtimes[0], assumed.basis + set_aside)

    def _below_peers(self, device: Device, model: CatalogModel, runtime: str, bpt: float, value: float, what: str) -> str:
        """Why a figure converted from another tool is set aside: under CONVERTED_SUSPECT of what the devices measured
        with llama.cpp on that backend predict for it (the other tool ran it poorly: an architecture its kernels do not
        know yet, a throttled or shared upload), or '' to keep it."""
        peers = self.predictor.peer_rate(device, model, runtime, bpt)
        if peers is None or value >= CONVERTED_SUSPECT * peers:
            return ""
        return f"; its {what} ({value:.3g} t/s) is under {CONVERTED_SUSPECT:.0%} of its measured peers' fit and set aside"

    @staticmethod
    def _converted_figure(cell: pd.Series) -> Figure:
        transfer: Transfer = cell["transfer"]
        machines = f"best of {cell['machines']} machines" if cell["machines"] > 1 else "1 machine"
        basis = f"converted: {transfer.describe()} ({machines}: {cell['sources']})"
        return Figure(cell["ts"], cell["low"], cell["high"], "converted", cell["runtime"], basis)

    def apart(self, device: Device, model: CatalogModel) -> list[dict]:
        """Other tools' figures on the device and model that no learned transfer converts: named, never ranked."""
        learned = {(t.family, t.source, t.source_runtime, t.group) for t in self.transfers if t.usable}
        rows = []
        for family in ("tg", "pp"):
            cells = self._other.get((family, device.id, model.id))
            for cell in cells.itertuples() if cells is not None else []:
                if (family, cell.quantity, cell.runtime, cell.group) in learned:
                    continue
                rows.append(
                    {
                        "device": device.name,
                        "quantity": cell.quantity,
                        "backend": cell.runtime or NOT_LLAMA_CPP,
                        "t/s": cell.ts,
                        "machines": cell.machines,
                        "why apart": f"no transfer to llama-bench {CANONICAL[family]} learned on {MIN_TRANSFER_DEVICES}+ "
                        f"{cell.group} devices measured both ways",
                    }
                )
        return rows


def _apart_label(row: dict) -> str:
    backend = "" if row["backend"] == NOT_LLAMA_CPP else f" ({row['backend']})"
    return f"{row['quantity']}{backend}: {row['t/s']:.3g} t/s"


def advise(
    runs: pd.DataFrame,
    model: CatalogModel,
    budget: float | None,
    min_tg: float | None,
    hardware: list[Device] | None = None,
    record: Record | None = None,
    backend: str | None = None,
    context: int = memory_fit.DEFAULT_CONTEXT,
) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    """Devices within budget that hold the model, fastest first (tg128); and why the others were left out, and the
    figures of other tools that stay apart."""
    need = memory_fit.model_need(model, context)
    per_token = normalizer(model, "tg")
    record = record or Record(runs, devices=hardware)
    rows = []
    left_out: dict[str, list[str]] = {
        "over budget": [],
        "too little memory": [],
        f"below --min-tg {min_tg:g} t/s" if min_tg is not None else "below --min-tg": [],
        f"no {backend} backend": [],
    }
    apart = []
    for device in hardware or load_hardware():
        if budget is not None and device.launch_price_usd > budget:
            left_out["over budget"].append(device.id)
            continue
        fit = memory_budget.device_margin(device, model, context)
        if not fit.fits:
            left_out["too little memory"].append(device.id)
            continue
        if backend and backend not in backends_of(device):
            left_out[f"no {backend} backend"].append(device.id)
            continue
        tg = record.answer(device, model, "tg", backend)
        assert tg is not None
        if min_tg is not None and tg.value < min_tg:
            left_out[f"below --min-tg {min_tg:g} t/s"].append(device.id)
            continue
        pp = record.answer(device, model, "pp", tg.runtime) or record.answer(device, model, "pp", backend)
        rows.append(
            {
                "device": device.name,
                "kind": device.kind,
                "memory_gb": device.memory_gb if device.memory_gb is not None else math.nan,
                "margin GiB": fit.margin / memory_fit.GIB if fit.margin is not None else math.nan,
                "price_usd": device.launch_price_usd,
                "backend": tg.runtime,
                "tg128 t/s": tg.value,
                "tg128 range": tg.range,
                "tg128 is": tg.kind,
                "pp512 t/s": pp.value if pp else math.nan,
                "pp512 is": f"{pp.kind} ({pp.runtime})" if pp else "",
                "basis": tg.basis,
                "t/s per $1000": tg.value / device.launch_price_usd * 1000,
                "t/s per W": tg.value / device.power_w,
                "note": device.note or "",
            }
        )
        apart += record.apart(device, model)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values("tg128 t/s", ascending=False, kind="stable").reset_index(drop=True)
        table.insert(0, "rank", range(1, len(table) + 1))
    notes = [
        f"{reason}: {len(ids)} device{'s' if len(ids) > 1 else ''} left out ({', '.join(ids)})"
        for reason, ids in left_out.items()
        if ids
    ]
    notes.append(
        f"{model.id}: {per_token / 1e9:.2f} GB read per generated token, about {need.total / memory_fit.GIB:.1f} GiB of memory "
        f"needed at {context} tokens of context (weights {need.weights / memory_fit.GIB:.1f}, KV cache "
        f"{need.kv_cache / memory_fit.GIB:.1f}, buffers {need.compute / memory_fit.GIB:.1f}; --ctx to change); margin = "
        f"the usable memory left ({memory_budget.usable_note()}); CPU rows: the buyer picks the RAM; prices are launch "
        "prices; tg128 and pp512 are llama-bench's tests at depth 0 on the backend named; measured = run on that device "
        "with a llama.cpp build, converted = another tool's or backend's figure through a learned transfer (named in the "
        "basis), predicted = the fixed-cost roofline fitted on measured devices (its range: the 10th-90th percentile of "
        "the error it rests on)."
    )
    return table, notes, pd.DataFrame(apart, columns=APART_COLUMNS)


THIS_MACHINE_ID = "this-machine"


@dataclass(frozen=True)
class ThisMachine:
    """This machine as advise answers for it: a hardware-table device, or, outside the table, one made of its own memory
    and its bandwidth measured by a copy test (harness/machine/bandwidth.py); `basis` says which, for every prediction."""

    device: Device
    memory: memory_budget.Device | None  # its own memory, for a device outside the table (the table's otherwise)
    basis: str

    @property
    def measured(self) -> bool:
        return self.memory is not None


def this_machine_device(machine: Machine) -> ThisMachine:
    """The hardware-table device this machine runs on; outside the table, its own memory and measured bandwidth (a GPU
    outside the table: CPU inference in RAM, since a copy test reads RAM, not the GPU's memory)."""
    from harness.catalogue.hardware import vendor_of
    from harness.machine.bandwidth import LABEL, this_machine_gbs
    from harness.results.facts import device_of

    found = device_of(machine, offload=bool(machine.gpus))
    if found is not None:
        return ThisMachine(found, None, f"{found.name}: the hardware table's peak, {found.bandwidth_gbs:g} GB/s")
    memory = memory_budget.this_machine(machine)
    why = ""
    if memory.kind == "gpu":
        assert machine.memory_bytes is not None  # a fingerprint always has it
        why = f"; its GPU ({machine.gpus[0].name}) is not in the hardware table: CPU inference in RAM"
        memory = memory_budget.Device(
            "cpu", machine.memory_bytes, f"{machine.memory_bytes / memory_fit.GIB:.0f} GiB RAM, CPU inference"
        )
    gbs = this_machine_gbs()
    name = machine.cpu.model if memory.kind == "cpu" else next((g.name for g in machine.gpus), machine.cpu.model)
    vendor = vendor_of(name)
    device = Device.model_construct(  # not validated: a vendor outside the table's four, no price or power
        id=THIS_MACHINE_ID,
        name=f"this machine ({name})",
        vendor=vendor,
        kind=memory.kind,
        memory_gb=None if memory.kind == "cpu" else memory.memory_bytes / 1e9,
        memory_type="",
        bandwidth_gbs=gbs,
        power_w=math.nan,
        launch_price_usd=math.nan,
        release_date=dt.date.today(),
        match=[name],
        note=memory.note,
        unverified=[],
        sources=[],
    )
    basis = f"this machine is not in the hardware table: {memory.note}, bandwidth {gbs:.1f} GB/s {LABEL}{why}"
    return ThisMachine(device, memory, basis)


def models_for_device(
    runs: pd.DataFrame,
    device: Device,
    min_tg: float | None = None,
    models: list[CatalogModel] | None = None,
    backend: str | None = None,
    context: int = memory_fit.DEFAULT_CONTEXT,
    memory: memory_budget.Device | None = None,
) -> pd.DataFrame:
    """The reverse question: the catalogue models this device holds (the one memory model; `memory` instead of the
    table's when given), fastest first, each at its canonical tg128 (measured, converted or predicted, the basis named)
    and pp512 where measured or converted."""
    from harness.catalogue.models import load_catalog

    record = Record(runs)
    rows = []
    for model in models or load_catalog().models:
        fit = (
            memory_budget.device_margin(device, model, context)
            if memory is None
            else memory_budget.margin_for(
                memory_fit.model_need(model, context), memory.kind, memory.memory_bytes, context, memory.vendor
            )
        )
        if not fit.fits:
            continue
        tg = record.answer(device, model, "tg", backend)
        assert tg is not None
        if min_tg is not None and tg.value < min_tg:
            continue
        pp = record.answer(device, model, "pp", tg.runtime) or record.answer(device, model, "pp", backend)
        apart = "; ".join(_apart_label(row) for row in record.apart(device, model))
        rows.append(
            {
                "model": model.id,
                "tier": model.tier,
                "params (B)": model.params_total_b,
                "quant": model.quant,
                "memory GiB": round(fit.need.total / memory_fit.GIB, 1),
                "margin": fit.text(),
                "backend": tg.runtime,
                "tg128 t/s": tg.value,
                "tg128 range": tg.range,
                "tg128 is": tg.kind,
                "pp512 t/s": pp.value if pp else math.nan,
                "pp512 is": f"{pp.kind} ({pp.runtime})" if pp else "",
                "basis": tg.basis,
                "other tests, not converted": apart,
            }
        )
    columns = [
        "model",
        "tier",
        "params (B)",
        "quant",
        "memory GiB",
        "margin",
        "backend",
        "tg128 t/s",
        "tg128 range",
        "tg128 is",
        "pp512 t/s",
        "pp512 is",
        "basis",
        "other tests, not converted",
    ]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("tg128 t/s", ascending=False, kind="stable").reset_index(drop=True) if not table.empty else table
