"""`meek advise`: which device to buy for a model and a budget, ranked by generation speed.

Measured results come first (the median over machines with that device). A device nobody has measured gets a prediction:
its memory bandwidth over the bytes read per token, times the bandwidth efficiency measured on devices of the same kind
in the results tree (or an assumed one when there are none), and is labelled as a prediction.
"""

from __future__ import annotations

import math

import pandas as pd

from harness import memory_fit
from harness.catalogue.models import CatalogModel
from harness.machine.hardware import Device, load_hardware

ASSUMED_EFFICIENCY = 0.6  # share of peak bandwidth llama.cpp generation typically reaches; used only without measurements


def generation_runs(runs: pd.DataFrame, model: str) -> pd.DataFrame:
    """llama-bench generation tests (tg128, tg32, ...) at depth 0: not other tools' averaged shapes (LocalScore's)."""
    tg = runs[(runs["n_prompt"] == 0) & (runs["n_gen"] > 0) & (runs["n_depth"] == 0) & runs["test"].str.fullmatch(r"tg\d+")]
    return tg[tg["model"] == model]


def efficiency_by_kind(runs: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """Median share of peak bandwidth reached in generation tests, per device kind, with how many machines it rests on."""
    tg = runs[(runs["n_prompt"] == 0) & (runs["n_gen"] > 0) & runs["bandwidth_gbs"].notna() & runs["bytes_per_token"].notna()]
    tg = tg[tg["test"].str.fullmatch(r"tg\d+")]  # llama-bench's generation tests, not LocalScore's averaged shapes
    tg = tg[tg["bytes_per_token"] >= 2**30]  # tiny models sit in caches and would overstate it
    if tg.empty:
        return {}
    share = tg["median_ts"] * tg["bytes_per_token"] / (tg["bandwidth_gbs"] * 1e9)
    frame = tg.assign(share=share).groupby(["device_kind", "machine_id"])["share"].median().reset_index()
    return {kind: (rows["share"].median(), len(rows)) for kind, rows in frame.groupby("device_kind")}


def fits(device: Device, needed_bytes: float) -> bool:
    """The memory model's verdict for a device of the hardware table (its memory_gb, as marketed, is GiB of VRAM or
    unified memory; a CPU's RAM is bought to suit and holds anything)."""
    memory = device.memory_gb * memory_fit.GIB if device.memory_gb is not None else None
    return memory_fit.fits(needed_bytes, device.kind, memory)


def model_need(model: CatalogModel) -> memory_fit.Need:
    """What a catalogue model needs at the default context: its file (or parameters at its quant) and the KV estimate."""
    size = model.file_size_bytes or int((model.file_size_approx_gb or 0) * 1e9) or None
    return memory_fit.need(model.params_total_b, model.quant, size)


def advise(
    runs: pd.DataFrame,
    model: CatalogModel,
    budget: float | None,
    min_tg: float | None,
    hardware: list[Device] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Devices within budget that hold the model, fastest first; and why the others were left out."""
    need = model_need(model)
    per_token = need.weights * model.params_active_b / model.params_total_b
    needed = need.total
    measured = generation_runs(runs, model.id) if not runs.empty else runs
    efficiency = efficiency_by_kind(runs) if not runs.empty else {}
    rows = []
    left_out: dict[str, list[str]] = {"over budget": [], "too little memory": [], "below --min-tg": []}
    for device in hardware or load_hardware():
        if budget is not None and device.launch_price_usd > budget:
            left_out["over budget"].append(device.id)
            continue
        if not fits(device, needed):
            left_out["too little memory"].append(device.id)
            continue
        own = measured[measured["device_id"] == device.id]
        if not own.empty:
            per_machine = own.groupby("machine_id")["median_ts"].median()
            tests = ",".join(sorted(set(own["test"])))
            tg, basis = per_machine.median(), f"measured ({len(per_machine)} machine(s), {tests})"
        else:
            share, machines = efficiency.get(device.kind, (ASSUMED_EFFICIENCY, 0))
            tg = device.bandwidth_gbs * 1e9 * share / per_token
            source = f"{share:.0%} efficiency from {machines} machine(s)" if machines else f"assumed {share:.0%} efficiency"
            basis = f"prediction: bandwidth x {source}"
        if min_tg is not None and tg < min_tg:
            left_out["below --min-tg"].append(device.id)
            continue
        rows.append(
            {
                "device": device.name,
                "kind": device.kind,
                "memory_gb": device.memory_gb if device.memory_gb is not None else math.nan,
                "price_usd": device.launch_price_usd,
                "tg t/s": tg,
                "basis": basis,
                "t/s per $1000": tg / device.launch_price_usd * 1000,
                "t/s per W": tg / device.power_w,
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
        "memory; CPU rows assume enough system RAM is bought; prices are launch prices."
    )
    return table, notes


def models_for_device(
    runs: pd.DataFrame, device: Device, min_tg: float | None = None, models: list[CatalogModel] | None = None
) -> pd.DataFrame:
    """The reverse question: the catalogue models this device holds (the one memory model), fastest first, each at its
    measured generation speed where anyone measured it on this device, else predicted, with the basis named."""
    from harness.catalogue.models import load_catalog

    rows = []
    for model in models or load_catalog().models:
        need = model_need(model)
        if not fits(device, need.total):
            continue
        table, _ = advise(runs, model, None, None, hardware=[device])
        if table.empty:
            continue
        best = table.iloc[0]
        if min_tg is not None and best["tg t/s"] < min_tg:
            continue
        rows.append({"model": model.id, "tier": model.tier, "params (B)": model.params_total_b, "quant": model.quant,
                     "memory GiB": round(need.total / memory_fit.GIB, 1), "tg t/s": best["tg t/s"], "basis": best["basis"]})  # fmt: skip
    table = pd.DataFrame(rows, columns=["model", "tier", "params (B)", "quant", "memory GiB", "tg t/s", "basis"])
    return table.sort_values("tg t/s", ascending=False, kind="stable").reset_index(drop=True) if not table.empty else table
