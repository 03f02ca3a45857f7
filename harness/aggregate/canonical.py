"""One question, one quantity: the record's figures as named quantities, and the transfers learned between them.

The canonical answer to "how fast is device X on model Y" is llama-bench's tg128 (generation) and pp512 (prompt) at
depth 0, run with a llama.cpp build (llama-bench, or `meek bench` in process) on one of the device's llama.cpp backends
(CUDA, ROCm, Vulkan, Metal, SYCL, CPU), the backend named. Every other figure in the record is another quantity:
LocalScore's 9-shape averages (llamafile's kernels), an Ollama eval rate, Geerling's llama.cpp runs of unstated lengths,
tg32, a test at depth. Such a figure becomes canonical only through a transfer learned from devices measured both
ways (the ratio, its 10-90% spread and the devices it rests on, named in every figure it converts); a quantity with no
learned transfer is shown apart, never mixed in.

Cells: one per (family, quantity, runtime, device, catalogue model), from depth-0 runs on one machine (a split across
machines is not a device's speed). A canonical cell is the median over the machines that measured it; another
quantity's cell is its best machine (uploads to a leaderboard err low: power limits, drivers, other work; llama.cpp's
scoreboards keep each device's best run too), and the transfer is learned on that same statistic. Runs flagged
unstable are left out where the same cell has stable ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness import memory_budget, memory_fit
from harness.aggregate.tree import prefer_stable
from harness.catalogue.hardware import Device
from harness.catalogue.models import CatalogModel
from harness.results.stats import percentiles

CANONICAL = {"tg": "tg128", "pp": "pp512"}
LLAMA_CPP_TOOLS = frozenset({"llama-bench", "llama-cpp-python"})  # the backend column's llama.cpp builds
TOOL_NAMES = {"localscore": "LocalScore", "ollama": "Ollama"}
RUNTIMES = ("CUDA", "ROCm", "Vulkan", "Metal", "SYCL", "CPU")
# The llama.cpp backends a device runs (those people use on it), its native one first: --backend must name one of them.
BACKENDS = {
    ("nvidia", "gpu"): ("CUDA", "Vulkan"),
    ("nvidia", "unified"): ("CUDA", "Vulkan"),
    ("amd", "gpu"): ("ROCm", "Vulkan"),
    ("amd", "unified"): ("ROCm", "Vulkan"),
    ("apple", "unified"): ("Metal",),
    ("intel", "gpu"): ("SYCL", "Vulkan"),
}
RUNTIME_ALIASES = {"MTL": "Metal", "METAL": "Metal", "HIP": "ROCm", "ROCM": "ROCm", "VULKAN": "Vulkan", "CUDA": "CUDA"}
PAIR_SIZE_RATIO = 2.0  # a pair of cells on different models is used only when their sizes are within this factor
MIN_TRANSFER_DEVICES = 3  # a transfer converts figures only when this many devices were measured both ways
CELL_COLUMNS = [
    "family",
    "quantity",
    "runtime",
    "canonical",
    "device_id",
    "kind",
    "group",
    "model",
    "moe",
    "norm",
    "bandwidth_gbs",
    "eff",
    "ts",
    "low",
    "high",
    "machines",
    "sources",
]


def runtime_of(runtime: str | None, n_gpu_layers: float | None) -> str:
    """The llama.cpp backend a run used, from ggml's backend list ('CPU,CUDA', 'MTL,BLAS', 'ROCm,RPC'): its accelerator
    backend unless nothing was offloaded; '' when the list names none (another tool's run)."""
    parts = [RUNTIME_ALIASES.get(p.upper(), p) for p in re.split(r"[,\s]+", runtime or "") if p]
    accelerators = [p for p in parts if p in RUNTIMES and p != "CPU"]
    if accelerators and n_gpu_layers != 0:
        return accelerators[0]
    return "CPU" if "CPU" in parts or accelerators else ""


def backends_of(device: Device) -> tuple[str, ...]:
    """The device's llama.cpp backends, its native one first (a CPU's: CPU)."""
    return BACKENDS.get((device.vendor, device.kind), ("CPU",))


def family_of(n_prompt: int, n_gen: int) -> str | None:
    return "tg" if n_gen > 0 and n_prompt == 0 else "pp" if n_prompt > 0 and n_gen == 0 else None


def quantity_name(backend: str, test: str) -> str:
    """'tg128' for llama.cpp's own tests (with the runtime apart), else the tool and its test: 'LocalScore tg (9-shape
    avg)', 'Ollama geerling eval rate (lengths not stated)'."""
    if backend in LLAMA_CPP_TOOLS:
        return test
    tool = TOOL_NAMES.get(backend, backend)
    return f"{tool} {test[len(tool) :].strip()}" if test.lower().startswith(tool.lower()) else f"{tool} {test}"


def normalizer(model: CatalogModel, family: str) -> float:
    """What a token costs the device, to put two models on one scale: weight bytes read per generated token (the active
    share of a mixture of experts), or billions of active parameters per prompt token."""
    if family == "pp":
        return model.params_active_b
    weights = memory_fit.model_need(model).weights
    return weights * model.params_active_b / model.params_total_b if model.moe else weights


def _preferred_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Depth-0 single-machine runs of catalogue models on table devices, unstable ones dropped where stable ones exist."""
    frame = runs[(runs["n_depth"] == 0) & (runs["split"].fillna("") == "") & runs["device_id"].notna()]
    frame = frame.assign(family=[family_of(p, g) for p, g in zip(frame["n_prompt"], frame["n_gen"])])
    frame = frame[frame["family"].notna()]
    if frame.empty:
        return frame
    frame = frame.assign(
        quantity=[quantity_name(b, t) for b, t in zip(frame["backend"], frame["test"])],
        runtime=[
            runtime_of(r, n) if b in LLAMA_CPP_TOOLS else ""
            for b, r, n in zip(frame["backend"], frame["runtime"], frame["n_gpu_layers"])
        ],
    )
    return prefer_stable(frame, ["family", "quantity", "runtime", "device_id", "model"])


def _source_name(source: str | None) -> str:
    """'imported: llama.cpp CUDA scoreboard (...), CUDA, build 8cf6b42' -> 'llama.cpp CUDA scoreboard (...)'."""
    return (source if isinstance(source, str) and source else "measured").removeprefix("imported: ").split(", ")[0][:60]


def record_cells(runs: pd.DataFrame, models: dict[str, CatalogModel], devices: dict[str, Device]) -> pd.DataFrame:
    """One row per (family, quantity, runtime, device, catalogue model) whose model fits the device."""
    frame = _preferred_runs(runs) if not runs.empty else runs
    if frame.empty:
        return empty_cells()
    frame = frame[frame["model"].isin(models) & frame["device_id"].isin(devices)]
    frame = frame.assign(
        canonical=[q == CANONICAL[f] and r != "" for q, f, r in zip(frame["quantity"], frame["family"], frame["runtime"])]
    )
    key = ["family", "quantity", "runtime", "canonical", "device_id", "model"]
    per_machine = frame.groupby([*key, "machine_id"]).agg(ts=("median_ts", "median"), source=("source", "first")).reset_index()
    rows = []
    for (family, quantity, runtime, canonical, device_id, model_id), group in per_machine.groupby(key):
        device, model = devices[device_id], models[model_id]
        if not memory_budget.device_fits(device, memory_fit.model_need(model).total):
            continue  # a model spilled into system memory measures the spill, not the device
        ts = float(group["ts"].median() if canonical else group["ts"].max())
        norm = normalizer(model, family)
        eff = ts * norm / (device.bandwidth_gbs * 1e9) if family == "tg" else ts * norm
        sources = "; ".join(sorted({_source_name(s) for s in group["source"]}))
        low, high = (float(group["ts"].min()), float(group["ts"].max())) if canonical and len(group) > 1 else (math.nan, math.nan)
        rows.append(
            [
                family,
                quantity,
                runtime,
                canonical,
                device_id,
                device.kind,
                f"{device.vendor} {device.kind}",
                model_id,
                model.moe,
                norm,
                device.bandwidth_gbs,
                eff,
                ts,
                low,
                high,
                len(group),
                sources,
            ]
        )
    return pd.DataFrame(rows, columns=CELL_COLUMNS) if rows else empty_cells()


def empty_cells() -> pd.DataFrame:
    """No cells, with the columns' types (a boolean mask over them stays a mask)."""
    return pd.DataFrame({c: pd.Series(dtype=bool if c in ("canonical", "moe") else object) for c in CELL_COLUMNS})


@dataclass(frozen=True)
class Transfer:
    """From one quantity (on a runtime, or another tool's) to the canonical test on a runtime, for one vendor and kind:
    the median over devices measured both ways of each device's ratio, with the 10-90% spread of every pair."""

    family: str
    source: str  # quantity
    source_runtime: str
    group: str  # "nvidia gpu"
    runtime: str  # the canonical figure's backend
    factor: float
    low: float
    high: float
    devices: tuple[str, ...]
    pairs: int

    @property
    def usable(self) -> bool:
        return len(self.devices) >= MIN_TRANSFER_DEVICES

    @property
    def source_label(self) -> str:
        return f"{self.source} ({self.source_runtime})" if self.source_runtime else self.source

    def describe(self) -> str:
        """'LocalScore tg (9-shape avg) x 1.21 to llama-bench tg128 (CUDA), learned on 6 nvidia gpu devices measured both
        ways, 10-90%: 1.09-1.9'."""
        plural = "device" if len(self.devices) == 1 else "devices"
        return (
            f"{self.source_label} x {self.factor:.2f} to llama-bench {CANONICAL[self.family]} ({self.runtime}), learned on "
            f"{len(self.devices)} {self.group} {plural} measured both ways, 10-90%: {self.low:.2f}-{self.high:.2f}"
        )


def _pairs(source: pd.DataFrame, target: pd.DataFrame) -> list[float]:
    """Per canonical cell of one device, the ratio of its efficiency to the source's on the same model, else on the
    model nearest in size (within PAIR_SIZE_RATIO)."""
    ratios: list[float] = []
    if source.empty:
        return ratios
    for cell in target.itertuples():
        same = source[source["model"] == cell.model]
        candidates = same if not same.empty else source
        gaps = np.abs(np.log(candidates["norm"].to_numpy() / cell.norm))
        best = int(np.argmin(gaps))
        if gaps[best] <= math.log(PAIR_SIZE_RATIO):
            ratios.append(cell.eff / candidates.iloc[best]["eff"])
    return ratios


def learn_transfers(cells: pd.DataFrame) -> list[Transfer]:
    """Every transfer the record supports: each non-canonical quantity (and each canonical test on another backend) to
    the canonical test on each runtime, per vendor and kind, from the devices that have both. A llama.cpp quantity on a
    runtime (tg32, a depth) transfers within its runtime; another tool's, or the canonical test on another backend,
    to any runtime."""
    transfers: list[Transfer] = []
    if cells.empty:
        return transfers
    canonical = cells[cells["canonical"]]
    for (family, quantity, source_runtime, group), source in cells.groupby(["family", "quantity", "runtime", "group"]):
        is_canonical_test = quantity == CANONICAL[family]
        for runtime, target in canonical[(canonical["family"] == family) & (canonical["group"] == group)].groupby("runtime"):
            same_runtime = runtime == source_runtime
            if (is_canonical_test and same_runtime) or (source_runtime and not is_canonical_test and not same_runtime):
                continue
            per_device, pooled = {}, []
            for device_id, own_target in target.groupby("device_id"):
                ratios = _pairs(source[source["device_id"] == device_id], own_target)
                if ratios:
                    per_device[device_id] = float(np.median(ratios))
                    pooled += ratios
            if not per_device:
                continue
            spread = percentiles(pooled, [10, 90]) if len(pooled) >= 3 else [min(pooled), max(pooled)]
            transfers.append(
                Transfer(
                    family,
                    quantity,
                    source_runtime,
                    group,
                    runtime,
                    float(np.median(list(per_device.values()))),
                    float(spread[0]),
                    float(spread[1]),
                    tuple(sorted(per_device)),
                    len(pooled),
                )
            )
    return transfers


def converted_cells(cells: pd.DataFrame, transfers: list[Transfer]) -> pd.DataFrame:
    """The canonical figure each non-canonical cell converts to, where a usable transfer (resting on MIN_TRANSFER_DEVICES
    or more) for its vendor and kind exists and the device has no measured canonical figure on that model and runtime;
    with the transfer it used (the one resting on most devices) and its range."""
    if cells.empty or not any(t.usable for t in transfers):
        return empty_cells().assign(transfer=None)
    by_key: dict[tuple, list[Transfer]] = {}
    for transfer in (t for t in transfers if t.usable):
        by_key.setdefault((transfer.family, transfer.source, transfer.source_runtime, transfer.group), []).append(transfer)
    measured = set(zip(*(cells.loc[cells["canonical"], c] for c in ("family", "runtime", "device_id", "model"))))
    best: dict[tuple, tuple] = {}
    for cell in cells.itertuples(index=False):
        for transfer in by_key.get((cell.family, cell.quantity, cell.runtime, cell.group), []):
            target = (cell.family, transfer.runtime, cell.device_id, cell.model)
            if target in measured:
                continue
            rank = (len(transfer.devices), transfer.pairs)
            if target not in best or rank > best[target][0]:
                best[target] = (rank, cell, transfer)
    rows = []
    for (_, runtime, _, _), (_, cell, transfer) in best.items():
        if cell.family == "tg" and cell.eff * transfer.factor > 1:
            continue  # above the bandwidth bound: the transfer does not hold for this figure
        ts = cell.ts * transfer.factor
        rows.append(
            {
                **cell._asdict(),
                "quantity": CANONICAL[cell.family],
                "runtime": runtime,
                "canonical": True,
                "ts": ts,
                "eff": cell.eff * transfer.factor,
                "transfer": transfer,
                "low": cell.ts * transfer.low,
                "high": cell.ts * transfer.high,
            }
        )
    return pd.DataFrame(rows, columns=[*CELL_COLUMNS, "transfer"])
