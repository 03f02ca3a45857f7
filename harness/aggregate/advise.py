"""`meek advise`: which device to buy for a model and a budget, ranked by generation speed.

Measured results come first (the median over machines with that device, llama-bench's generation tests). A device
nobody measured on that model gets a prediction from the record (harness/aggregate/predict.py: its own efficiency on
other models, else its vendor and kind's, else its kind's, else an assumed one), with a range and its basis named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from harness import memory_fit
from harness.aggregate.predict import Predictor, predictor
from harness.catalogue.models import CatalogModel
from harness.machine.hardware import Device, load_hardware


def generation_runs(runs: pd.DataFrame, model: str) -> pd.DataFrame:
    """llama-bench generation tests (tg128, tg32, ...) at depth 0: not other tools' averaged shapes (LocalScore's)."""
    tg = runs[(runs["n_prompt"] == 0) & (runs["n_gen"] > 0) & (runs["n_depth"] == 0) & runs["test"].str.fullmatch(r"tg\d+")]
    return tg[(tg["model"] == model) & (tg["split"].fillna("") == "")]  # a split across machines is not the device's speed


@dataclass(frozen=True)
class Estimate:
    tg: float
    low: float
    high: float
    basis: str
    pp: float  # measured prompt t/s (llama-bench pp tests), NaN where nobody measured it


class Measured:
    """What the record measured of one model, per device: generation (llama-bench's tg tests, else LocalScore's averaged
    shape) and prompt processing (llama-bench's pp tests), each the median over machines. Built once per model."""

    def __init__(self, runs: pd.DataFrame, model: str):
        self.tg: dict = {}
        self.localscore: dict = {}
        self.pp: dict = {}
        if runs.empty:
            return
        self.tg = dict(tuple(generation_runs(runs, model).groupby("device_id")))
        depth0 = runs[(runs["model"] == model) & (runs["split"].fillna("") == "") & (runs["n_depth"] == 0)]
        localscore = depth0[(depth0["n_prompt"] == 0) & (depth0["n_gen"] > 0) & (depth0["backend"] == "localscore")]
        self.localscore = dict(tuple(localscore.groupby("device_id")))
        prompt = depth0[(depth0["n_gen"] == 0) & depth0["test"].str.fullmatch(r"pp\d+")]
        self.pp = prompt.groupby(["device_id", "machine_id"])["median_ts"].median().groupby(level=0).median().to_dict()

    def on(self, device: Device) -> pd.DataFrame | None:
        return self.tg.get(device.id, self.localscore.get(device.id))


def estimate(measured: Measured, record: Predictor, device: Device, model: CatalogModel) -> Estimate:
    """The model's generation speed on the device: measured there (llama-bench's tg tests, else LocalScore's averaged
    shape, named), else predicted from the record."""
    pp = float(measured.pp.get(device.id, math.nan))
    own = measured.on(device)
    if own is not None:
        per_machine = own.groupby("machine_id")["median_ts"].median()
        tests = ",".join(sorted(set(own["test"])))
        low, high = float(per_machine.min()), float(per_machine.max())
        return Estimate(float(per_machine.median()), low, high, f"measured ({len(per_machine)} machine(s), {tests})", pp)
    prediction = record.predict(device, model)
    return Estimate(prediction.tg, prediction.low, prediction.high, prediction.basis, pp)


def advise(
    runs: pd.DataFrame,
    model: CatalogModel,
    budget: float | None,
    min_tg: float | None,
    hardware: list[Device] | None = None,
    record: Predictor | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Devices within budget that hold the model, fastest first; and why the others were left out."""
    need = memory_fit.model_need(model)
    per_token = need.weights * model.params_active_b / model.params_total_b
    needed = need.total
    record = record or predictor(runs)
    measured = Measured(runs, model.id)
    rows = []
    left_out: dict[str, list[str]] = {"over budget": [], "too little memory": [], "below --min-tg": []}
    for device in hardware or load_hardware():
        if budget is not None and device.launch_price_usd > budget:
            left_out["over budget"].append(device.id)
            continue
        if not memory_fit.device_fits(device, needed):
            left_out["too little memory"].append(device.id)
            continue
        found = estimate(measured, record, device, model)
        if min_tg is not None and found.tg < min_tg:
            left_out["below --min-tg"].append(device.id)
            continue
        rows.append(
            {
                "device": device.name,
                "kind": device.kind,
                "memory_gb": device.memory_gb if device.memory_gb is not None else math.nan,
                "price_usd": device.launch_price_usd,
                "tg t/s": found.tg,
                "tg range": _range(found),
                "basis": found.basis,
                "t/s per $1000": found.tg / device.launch_price_usd * 1000,
                "t/s per W": found.tg / device.power_w,
                "note": device.note or "",
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values("tg t/s", ascending=False, kind="stable").reset_index(drop=True)
        table.insert(0, "rank", range(1, len(table) + 1))
    notes = [f"{reason}: {', '.join(ids)}" for reason, ids in left_out.items() if ids]
    notes.append(
        f"{model.id}: {per_token / 1e9:.2f} GB read per generated token, about {needed / memory_fit.GIB:.1f} GiB of memory "
        f"needed at {memory_fit.DEFAULT_CONTEXT} tokens of context (weights {need.weights / memory_fit.GIB:.1f}, KV cache "
        f"{need.kv_cache / memory_fit.GIB:.1f}, buffers {need.compute / memory_fit.GIB:.1f}); a model may use "
        f"{memory_fit.USABLE_SHARE['gpu']:.0%} of a GPU's memory and {memory_fit.USABLE_SHARE['unified']:.0%} of unified "
        "memory; CPU rows assume enough system RAM is bought; prices are launch prices; a range is the spread between "
        "machines (measured) or the 10th-90th percentile of the spread a prediction rests on."
    )
    return table, notes


def _range(found: Estimate) -> str:
    return "" if math.isnan(found.low) else f"{found.low:.3g}-{found.high:.3g}"


def models_for_device(
    runs: pd.DataFrame, device: Device, min_tg: float | None = None, models: list[CatalogModel] | None = None
) -> pd.DataFrame:
    """The reverse question: the catalogue models this device holds (the one memory model), fastest first, each at its
    measured generation speed where anyone measured it on this device, else predicted, with the basis named."""
    from harness.catalogue.models import load_catalog

    record = predictor(runs)
    rows = []
    for model in models or load_catalog().models:
        need = memory_fit.model_need(model)
        if not memory_fit.device_fits(device, need.total):
            continue
        found = estimate(Measured(runs, model.id), record, device, model)
        if min_tg is not None and found.tg < min_tg:
            continue
        rows.append({"model": model.id, "tier": model.tier, "params (B)": model.params_total_b, "quant": model.quant,
                     "memory GiB": round(need.total / memory_fit.GIB, 1), "tg t/s": found.tg, "tg range": _range(found),
                     "pp t/s (measured)": found.pp, "basis": found.basis})  # fmt: skip
    columns = ["model", "tier", "params (B)", "quant", "memory GiB", "tg t/s", "tg range", "pp t/s (measured)", "basis"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("tg t/s", ascending=False, kind="stable").reset_index(drop=True) if not table.empty else table
