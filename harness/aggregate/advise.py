"""`meek advise`: which device to buy for a model and a budget, ranked by generation speed.

Measured results come first (the median over machines with that device). A device nobody has measured gets a prediction:
its memory bandwidth over the bytes read per token, times the bandwidth efficiency measured on devices of the same kind
in the results tree (or an assumed one when there are none), and is labelled as a prediction.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.catalogue.models import CatalogModel
from harness.errors import MeekError
from harness.machine.hardware import Device, load_hardware

ASSUMED_EFFICIENCY = 0.6  # share of peak bandwidth llama.cpp generation typically reaches; used only without measurements
MEMORY_OVERHEAD = 1.2  # weights plus KV cache and compute buffers at a few thousand tokens of context
USABLE_SHARE = {"gpu": 0.95, "unified": 0.75, "cpu": 1.0}  # unified memory: the OS and GPU carve-out keep part of it


def generation_runs(runs: pd.DataFrame, model: str) -> pd.DataFrame:
    tg = runs[(runs["n_prompt"] == 0) & (runs["n_gen"] > 0) & (runs["n_depth"] == 0)]
    return tg[tg["model"] == model]


def efficiency_by_kind(runs: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """Median share of peak bandwidth reached in generation tests, per device kind, with how many machines it rests on."""
    tg = runs[(runs["n_prompt"] == 0) & (runs["n_gen"] > 0) & runs["bandwidth_gbs"].notna() & runs["bytes_per_token"].notna()]
    tg = tg[tg["bytes_per_token"] >= 2**30]  # tiny models sit in caches and would overstate it
    if tg.empty:
        return {}
    share = tg["median_ts"] * tg["bytes_per_token"] / (tg["bandwidth_gbs"] * 1e9)
    frame = tg.assign(share=share).groupby(["device_kind", "machine_id"])["share"].median().reset_index()
    return {kind: (rows["share"].median(), len(rows)) for kind, rows in frame.groupby("device_kind")}


def fits(device: Device, needed_bytes: float) -> bool:
    if device.kind == "cpu" or device.memory_gb is None:
        return True  # system RAM is bought to suit
    return needed_bytes <= device.memory_gb * 1e9 * USABLE_SHARE[device.kind]


def advise(
    runs: pd.DataFrame,
    model: CatalogModel,
    budget: float | None,
    min_tg: float | None,
    hardware: list[Device] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Devices within budget that hold the model, fastest first; and why the others were left out."""
    size = model.file_size_bytes or (model.file_size_approx_gb or 0) * 1e9
    if not size:
        raise MeekError(f"the catalogue has no file size for {model.id}: cannot tell what holds it")
    per_token = size * model.params_active_b / model.params_total_b
    needed = size * MEMORY_OVERHEAD
    measured = generation_runs(runs, model.id) if not runs.empty else runs
    efficiency = efficiency_by_kind(runs) if not runs.empty else {}
    rows, left_out = [], {"over budget": [], "too little memory": [], "below --min-tg": []}
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
            tg, basis = per_machine.median(), f"measured ({len(per_machine)} machine(s))"
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
        f"{model.id}: {per_token / 1e9:.2f} GB read per generated token, about {needed / 1e9:.1f} GB of memory needed "
        f"(weights x {MEMORY_OVERHEAD}); CPU rows assume enough system RAM is bought; prices are launch prices."
    )
    return table, notes
