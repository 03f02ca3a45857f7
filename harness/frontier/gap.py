"""How far behind the frontier is the best open model a home machine can hold? Pure logic on tidy score frames.

Frames have the columns of harness.frontier.epoch.COLUMNS (model, release_date, open_weights, params_total_b, benchmark,
setting, score in percent, source_link, ...). "The frontier" is every model, open or closed, with a score on the benchmark.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import pandas as pd

from harness import memory_budget, memory_fit
from harness.errors import MeekError, UsageError

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

DAYS_PER_MONTH = 30.4375  # 365.25 / 12
STEADY_MONTHS_PER_YEAR = 1.0  # a lag trend flatter than this is "steady"
FIRST_CHECKPOINT_YEAR = 2023  # the lag history starts on 1 January 2023 and runs to the last 1 January before today


class MemoryOptions(TypedDict, total=False):
    """The optional arguments of `memory_needed_gb`, which the functions below pass on as **memory_options."""

    bits_per_weight: float | None
    context: int
    kv_bytes_per_token: float | None


@dataclass(frozen=True)
class MachineClass:
    """A kind of home machine: its memory (GiB, the unit VRAM and RAM are sold in), its kind and, for unified memory, the
    GPU's maker, which say how much of it a model may use (harness/memory_budget.py: usable_bytes)."""

    memory_gb: float
    kind: str
    note: str
    max_params_b: float | None = None  # Epoch's rule instead of the memory model: open models up to this many parameters
    vendor: str | None = None  # unified memory: apple (the default rule), amd (Ryzen AI Max), nvidia (DGX Spark)
    # One machine rather than a class: the rows whose model runs on it at a usable speed (harness/frontier/here.py), which
    # decides alone, instead of the memory model or a threshold.
    selector: Callable[[pd.DataFrame], pd.Series] | None = field(default=None, compare=False, repr=False)

    def runs(self, params_total_b: float, need_bytes: float) -> bool:
        """Whether a model runs on the class: by Epoch's parameter threshold when it has one, else by the memory model."""
        return params_total_b <= self.max_params_b if self.max_params_b is not None else self.holds(need_bytes)

    def runnable(self, rows: pd.DataFrame, **memory_options: Unpack[MemoryOptions]) -> pd.Series:
        """For each row (params_total_b known), whether its model runs on the class: the selector's answer where the
        class has one, else `runs` with the memory `memory_options` describe."""
        if self.selector is not None:
            return self.selector(rows).reindex(rows.index).fillna(False).astype(bool)
        needed = [memory_needed_gb(float(p), **memory_options) * memory_fit.GIB for p in rows["params_total_b"]]
        return pd.Series([self.runs(float(p), n) for p, n in zip(rows["params_total_b"], needed)], index=rows.index, dtype=bool)

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * memory_fit.GIB

    @property
    def usable_gb(self) -> float:
        return memory_budget.usable_bytes(self.kind, self.memory_bytes, self.vendor) / memory_fit.GIB

    def holds(self, need_bytes: float) -> bool:
        return memory_budget.fits(need_bytes, self.kind, self.memory_bytes, self.vendor)


_GPU = (
    f"discrete GPU; {memory_budget.GPU_RESERVED_BYTES / memory_fit.GIB:g} GiB goes to the driver, CUDA/ROCm context and desktop"
)
_UNIFIED = "Apple-silicon style unified memory; macOS lets the GPU wire 2/3 of it up to 36 GB, 3/4 above, by default"
# A model must fit whole: GPU classes hold it in VRAM (no CPU offload).
MACHINE_CLASSES: dict[str, MachineClass] = {
    "8gb-gpu": MachineClass(8, "gpu", _GPU),
    "12gb-gpu": MachineClass(12, "gpu", _GPU),
    "16gb-gpu": MachineClass(16, "gpu", _GPU),
    "24gb-gpu": MachineClass(24, "gpu", _GPU),
    "32gb-gpu": MachineClass(32, "gpu", _GPU),
    "16gb-laptop": MachineClass(16, "cpu", "CPU inference in system RAM; the OS, browser and apps keep ~40%"),
    "64gb-unified": MachineClass(64, "unified", _UNIFIED),
    "128gb-unified": MachineClass(128, "unified", _UNIFIED),
    # Epoch AI's thresholds ("Frontier AI performance becomes accessible on consumer hardware within a year", 2025-08):
    # open models up to 28B parameters run on one RTX 4090, up to 40B on one RTX 5090.
    "rtx-4090-epoch": MachineClass(24, "gpu", "Epoch's rule: open models up to 28B parameters", max_params_b=28),
    "rtx-5090-epoch": MachineClass(32, "gpu", "Epoch's rule: open models up to 40B parameters", max_params_b=40),
}
# the benchmark `meek gap` leads with (its --benchmark default, "gpqa_diamond,mmlu_pro,mmlu", names it first; MMLU's
# frontier data has stopped, so gap's note calls it "not the headline"): the site's frontier page leads with it too
HEADLINE_BENCHMARK = "gpqa_diamond"
EPOCH_PUBLISHED_LAG = {  # months, the same insight (GPQA Diamond and MMLU-Pro, RTX 5090 class): for the bench's comparison
    "gpqa_diamond": 7.0,
    "mmlu_pro": 7.0,
}


def memory_needed_gb(
    params_total_b: float,
    bits_per_weight: float | None = None,
    context: int = memory_fit.DEFAULT_CONTEXT,
    kv_bytes_per_token: float | None = None,
) -> float:
    """GiB to run a model known by its parameter count (at Q4_K_M and an 8k context unless told otherwise): the one
    memory model, harness/memory_fit.py."""
    if isinstance(params_total_b, bool) or not isinstance(params_total_b, numbers.Real) or not params_total_b > 0:
        raise MeekError(f"parameter count must be a positive number of billions, not {params_total_b!r}")
    need = memory_fit.need(params_total_b, context=context, kv_per_token=kv_bytes_per_token, bits_per_weight=bits_per_weight)
    return need.total / memory_fit.GIB


def machine_class_named(name: str, classes: Mapping[str, MachineClass] = MACHINE_CLASSES) -> MachineClass:
    """The machine class called `name`; a clear error listing the known ones otherwise."""
    try:
        return classes[name]
    except KeyError:
        raise UsageError(f"unknown machine class {name!r}; known: {', '.join(classes)}") from None


def fits(params_total_b: float, machine_class: str, **memory_options: Unpack[MemoryOptions]) -> bool:
    """True when the model (at Q4_K_M and an 8k context unless `memory_options` say otherwise) fits the class."""
    return machine_class_named(machine_class).holds(memory_needed_gb(params_total_b, **memory_options) * memory_fit.GIB)


def best_so_far(
    frame: pd.DataFrame,
    benchmark: str,
    setting: str | None = None,
    where: pd.Series | Callable[[pd.DataFrame], pd.Series] | None = None,
) -> pd.DataFrame:
    """The record-setting rows, by release date: each row beat every earlier score (a step curve of the running maximum).

    `where` narrows the rows first: a boolean Series aligned with `frame`, or a function of the frame returning one.
    """
    rows = frame[frame["benchmark"] == benchmark]
    if rows.empty:
        known = ", ".join(sorted(frame["benchmark"].dropna().unique()))
        raise UsageError(f"no scores for benchmark {benchmark!r}; known: {known}")
    if setting is not None:
        rows = rows[rows["setting"] == setting]
    if where is not None:
        mask = where(rows) if callable(where) else where.reindex(rows.index)
        rows = rows[mask.fillna(False).astype(bool)]
    rows = rows.dropna(subset=["release_date", "score"]).assign(release_date=lambda r: pd.to_datetime(r["release_date"]))
    rows = rows.sort_values(["release_date", "score"], ascending=[True, False], kind="stable")
    previous_best = rows["score"].cummax().shift(1, fill_value=-math.inf)
    return rows[rows["score"] > previous_best].reset_index(drop=True)


def months_behind(frontier_curve: pd.DataFrame, score: float, on_date: object) -> float | None:
    """Months from the frontier first reaching `score` to `on_date` (days / 30.4375), counting only releases up to `on_date`.

    None when the frontier has no release up to `on_date`; 0.0 when `score` is above everything the frontier had by then.
    """
    on = pd.Timestamp(on_date)
    dates = pd.to_datetime(frontier_curve["release_date"])
    known = frontier_curve[dates <= on]
    if known.empty:
        return None
    reached = dates[(dates <= on) & (frontier_curve["score"] >= score)]
    if reached.empty:
        return 0.0
    return (on - reached.min()).days / DAYS_PER_MONTH


def first_to_reach(frontier_curve: pd.DataFrame, score: float, on_date: object) -> pd.Series | None:
    """The earliest frontier row (released by `on_date`) scoring at least `score`."""
    dates = pd.to_datetime(frontier_curve["release_date"])
    reached = frontier_curve[(dates <= pd.Timestamp(on_date)) & (frontier_curve["score"] >= score)]
    if reached.empty:
        return None
    return reached.assign(release_date=pd.to_datetime(reached["release_date"])).sort_values("release_date", kind="stable").iloc[0]


def best_open_that_fits(
    frame: pd.DataFrame,
    benchmark: str,
    machine_class: str,
    on_date: object,
    setting: str | None = None,
    classes: Mapping[str, MachineClass] = MACHINE_CLASSES,
    **memory_options: Unpack[MemoryOptions],
) -> pd.Series | None:
    """The best-scoring open-weight model released by `on_date` whose parameters fit the class (ties: the earlier release)."""
    machine = machine_class_named(machine_class, classes)
    rows = frame[(frame["benchmark"] == benchmark) & (frame["open_weights"].fillna(False).astype(bool))]
    if setting is not None:
        rows = rows[rows["setting"] == setting]
    rows = rows.dropna(subset=["params_total_b", "score", "release_date"])
    rows = rows[pd.to_datetime(rows["release_date"]) <= pd.Timestamp(on_date)]
    if rows.empty:
        return None
    needed = rows["params_total_b"].map(lambda p: memory_needed_gb(float(p), **memory_options))
    held = machine.runnable(rows, **memory_options)
    rows = rows.assign(memory_needed_gb=needed, release_date=pd.to_datetime(rows["release_date"]))[held]
    if rows.empty:
        return None
    return rows.sort_values(["score", "release_date"], ascending=[False, True], kind="stable").iloc[0]


def lag_history(
    frame: pd.DataFrame,
    benchmark: str,
    machine_class: str,
    checkpoints: Iterable[object],
    setting: str | None = None,
    classes: Mapping[str, MachineClass] = MACHINE_CLASSES,
    **memory_options: Unpack[MemoryOptions],
) -> pd.DataFrame:
    """At each checkpoint date: the best open model that fits (released by then), and how many months the frontier was ahead."""
    curve = best_so_far(frame, benchmark, setting)
    rows = []
    for checkpoint in map(pd.Timestamp, checkpoints):
        best = best_open_that_fits(frame, benchmark, machine_class, checkpoint, setting, classes, **memory_options)
        leader = first_to_reach(curve, best["score"], checkpoint) if best is not None else None
        rows.append(
            {
                "checkpoint": checkpoint,
                "open_model": best["model"] if best is not None else None,
                "open_score": best["score"] if best is not None else math.nan,
                "open_date": best["release_date"] if best is not None else pd.NaT,
                "frontier_model": leader["model"] if leader is not None else None,
                "frontier_date": leader["release_date"] if leader is not None else pd.NaT,
                "lag_months": months_behind(curve, best["score"], checkpoint) if best is not None else None,
            }
        )
    return pd.DataFrame(rows)


def release_lags(
    frame: pd.DataFrame,
    benchmark: str,
    machine_class: str,
    classes: Mapping[str, MachineClass] = MACHINE_CLASSES,
    **memory_options: Unpack[MemoryOptions],
) -> pd.DataFrame:
    """Epoch's quantity: each open model that set a new best score among those the class runs, and how many months
    after the frontier (any model) first reached that score it came out (0 when it led). One row per such model."""
    machine = machine_class_named(machine_class, classes)
    rows = frame[(frame["benchmark"] == benchmark) & frame["open_weights"].fillna(False).astype(bool)]
    rows = rows.dropna(subset=["params_total_b", "score", "release_date"])
    runnable = machine.runnable(rows, **memory_options)
    setters = best_so_far(rows[runnable], benchmark) if runnable.any() else rows.iloc[:0]
    curve = best_so_far(frame, benchmark)
    out = []
    for row in setters.to_dict("records"):
        leader = first_to_reach(curve, row["score"], row["release_date"])
        out.append(
            {
                **row,
                "frontier_model": leader["model"] if leader is not None else None,
                "frontier_date": leader["release_date"] if leader is not None else pd.NaT,
                "frontier_kind": leader.get("kind") if leader is not None else None,
                "lag_months": months_behind(curve, row["score"], row["release_date"]) or 0.0,
            }
        )
    return pd.DataFrame(out, columns=[*frame.columns, "frontier_model", "frontier_date", "frontier_kind", "lag_months"])


def mean_release_lag(lags: pd.DataFrame, since: object) -> tuple[float, int]:
    """The average of the release lags of the models released since `since` (Epoch's "average lag"), and how many."""
    recent = lags[pd.to_datetime(lags["release_date"]) >= pd.Timestamp(since)]
    return (float(recent["lag_months"].mean()) if len(recent) else math.nan), len(recent)


def lag_trend(history: pd.DataFrame) -> tuple[str | None, float | None]:
    """('closing' | 'widening' | 'steady', slope in months of lag per year) from a lag_history; (None, None) with < 2 points."""
    known = history.dropna(subset=["lag_months"])
    if len(known) < 2:
        return None, None
    years = (known["checkpoint"] - known["checkpoint"].iloc[0]).dt.days / 365.25
    slope = float(np.polyfit(years.to_numpy(float), known["lag_months"].to_numpy(float), 1)[0])
    if slope <= -STEADY_MONTHS_PER_YEAR:
        return "closing", slope
    if slope >= STEADY_MONTHS_PER_YEAR:
        return "widening", slope
    return "steady", slope


def gap_table(
    frame: pd.DataFrame,
    benchmark: str,
    classes: Mapping[str, MachineClass] = MACHINE_CLASSES,
    today: object = None,
    setting: str | None = None,
    checkpoints: Iterable[object] | None = None,
    since: object = f"{FIRST_CHECKPOINT_YEAR}-01-01",
    **memory_options: Unpack[MemoryOptions],
) -> pd.DataFrame:
    """Per machine class: the best open model that fits, the frontier model that first reached its score, and the lag.

    release_lag_months: Epoch's quantity, the mean lag at release of the open models that set a new best for the class
    since `since` (release_lag_models of them; release_lags holds the rows).

    lag_at_release_months: how far behind the open model was when it came out; months_behind_today: from the frontier
    reaching that score to `today`. lag_<YYYY-MM> columns hold the lag at each checkpoint (default 1 January of each year from 2023 to today's);
    checkpoints after the benchmark's last release (`data_until`) are left out, since a lag there would only measure the
    missing data. trend/trend_months_per_year: the least-squares slope of those lags.
    """
    day = pd.Timestamp(today) if today is not None else pd.Timestamp.today().normalize()
    rows = frame[frame["benchmark"] == benchmark]
    curve = best_so_far(frame, benchmark, setting)
    data_until = pd.to_datetime(rows["release_date"]).max()
    if checkpoints is None:
        checkpoints = [pd.Timestamp(year=year, month=1, day=1) for year in range(FIRST_CHECKPOINT_YEAR, day.year + 1)]
    checkpoints = [c for c in map(pd.Timestamp, checkpoints) if c <= min(day, data_until)]
    table = []
    for name, machine in classes.items():
        best = best_open_that_fits(frame, benchmark, name, day, setting, classes, **memory_options)
        leader = first_to_reach(curve, best["score"], day) if best is not None else None
        history = lag_history(frame, benchmark, name, checkpoints, setting, classes, **memory_options)
        trend, slope = lag_trend(history) if not history.empty else (None, None)
        row = {
            "machine_class": name,
            "usable_gb": round(machine.usable_gb, 2),
            "benchmark": benchmark,
            "open_model": None,
            "open_params_b": math.nan,
            "open_memory_gb": math.nan,
            "open_score": math.nan,
            "open_date": pd.NaT,
            "open_source_link": None,
            "open_kind": None,
            "frontier_model": None,
            "frontier_score": math.nan,
            "frontier_date": pd.NaT,
            "frontier_source_link": None,
            "frontier_kind": None,
            "lag_at_release_months": math.nan,
            "months_behind_today": math.nan,
        }
        if best is not None:
            row.update(
                open_model=best["model"],
                open_params_b=best["params_total_b"],
                open_memory_gb=round(best["memory_needed_gb"], 2),
                open_score=best["score"],
                open_date=best["release_date"],
                open_source_link=best.get("source_link"),
                open_kind=best.get("kind"),
                lag_at_release_months=months_behind(curve, best["score"], best["release_date"]),
                months_behind_today=months_behind(curve, best["score"], day),
            )
        if leader is not None:
            row.update(
                frontier_model=leader["model"],
                frontier_score=leader["score"],
                frontier_date=leader["release_date"],
                frontier_source_link=leader.get("source_link"),
                frontier_kind=leader.get("kind"),
            )
        for checkpoint_row in history.itertuples(index=False):
            lag = checkpoint_row.lag_months
            row[f"lag_{checkpoint_row.checkpoint:%Y-%m}"] = math.nan if lag is None else lag
        lags = release_lags(frame, benchmark, name, classes, **memory_options)
        mean_lag, setters = mean_release_lag(lags, since)
        row.update(
            trend=trend,
            trend_months_per_year=slope,
            data_until=data_until,
            release_lag_months=mean_lag,
            release_lag_models=setters,
            release_lags=lags,
        )
        table.append(row)
    return pd.DataFrame(table)


def parse_classes(text: str | None) -> dict[str, MachineClass]:
    """The machine classes a comma list names (every class when empty); an unknown name is a usage error."""
    if not text:
        return dict(MACHINE_CLASSES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MACHINE_CLASSES]
    if unknown:
        raise UsageError(f"unknown machine class {', '.join(unknown)}; known: {', '.join(MACHINE_CLASSES)}")
    return {n: MACHINE_CLASSES[n] for n in names}


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """The score kinds a comma list names (the default mix when empty); an unknown kind is a usage error."""
    from harness.frontier.epoch import DEFAULT_KINDS, KINDS  # epoch reads tables; gap stays pure logic until asked

    if not text:
        return DEFAULT_KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if unknown := [k for k in kinds if k not in KINDS]:
        raise UsageError(f"--kinds: unknown kind {', '.join(unknown)}; known: {', '.join(KINDS)}")
    return kinds


def gap_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The gap table in readable columns, with the lag at each checkpoint and the source rows."""
    lag_columns = [c for c in table.columns if c.startswith("lag_") and c != "lag_at_release_months"]
    rows = []
    for row in table.to_dict("records"):
        found = isinstance(row["open_model"], str)
        rows.append(
            {
                "benchmark": row["benchmark"],
                "machine_class": row["machine_class"],
                "usable GB": row["usable_gb"],
                "lag at release, mean (Epoch)": row.get("release_lag_months", math.nan),
                "best open model that fits": f"{row['open_model']} ({row['open_params_b']:g}B)" if found else "none",
                "kind": row.get("open_kind") or "",
                "score": row["open_score"],
                "released": f"{row['open_date']:%Y-%m}" if found else "",
                "frontier first there": f"{row['frontier_model']} ({row['frontier_date']:%Y-%m})" if found else "",
                "months behind at release": row["lag_at_release_months"],
                "months behind today": row["months_behind_today"],
                "lag by year": ", ".join(
                    f"{c[4:8]}: {row[c]:.0f}" for c in lag_columns if not (isinstance(row[c], float) and math.isnan(row[c]))
                ),
                "trend": f"{row['trend']} ({row['trend_months_per_year']:+.1f} months/year)" if row["trend"] else "",
                "rows used": f"{row['open_model']} [{row.get('open_kind')}] {row['open_date']:%Y-%m-%d} {row['open_score']:.1f} "
                f"<{row['open_source_link']}>; {row['frontier_model']} [{row.get('frontier_kind')}] "
                f"{row['frontier_date']:%Y-%m-%d} {row['frontier_score']:.1f} <{row['frontier_source_link']}>"
                if found
                else "",
            }
        )
    return pd.DataFrame(rows)


def this_machine_class() -> tuple[MachineClass, str]:
    """This machine as a class, through the one memory model (harness/memory_budget.py: this_machine)."""
    from harness.machine.facts import fingerprint

    machine = fingerprint(include_build=False)
    device = memory_budget.this_machine(machine)
    note = f"{device.note}; usable as for the classes of that kind"
    return MachineClass(device.memory_bytes / memory_fit.GIB, device.kind, note, vendor=device.vendor), machine.machine_id
