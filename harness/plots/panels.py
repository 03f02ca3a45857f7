"""What the performance figures share (harness/plots/performance.py): names and limits, text from result files, the
run frames they draw from (pooled samples, chosen tests, generation rates), and the panel layout, colours and legends."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from harness.aggregate.compare import select_model
from harness.errors import MeekError
from harness.plots import style
from harness.plots.style import safe_text

DEFAULT_TESTS = ("pp512", "tg128")
MAX_PANELS = 6
INSIDE_LEGEND = 6  # more entries than this go below the plot
KIND_NAMES = {"pp": "prompt processing", "tg": "generation", "pg": "prompt + generation", "other": "other"}
MARKERS = "osD^vP*Xh<>"
LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}  # readable over lines
DEPTH_HINT = "run meek bench -d 0,1024,4096"
BENCH_HINT = "run meek bench (or meek validate to see why files were left out)"


class NoData(MeekError):
    """Nothing in the frames to draw; the message says which command would produce the data."""


# ---- text from result files ------------------------------------------------------------------------------------------


def data_source(label: str, *frames: pd.DataFrame) -> str:
    """'Data: N result files from <label>', counting the distinct files behind the frames."""
    files = set().union(*(set(frame["file"].dropna()) for frame in frames if "file" in frame))
    return f"Data: {len(files)} result file{'s' * (len(files) != 1)} from {label}"


def machine_label(row: pd.Series) -> str:
    """Device, the machine id's random suffix and the backend: enough to tell machines apart, short enough for an axis."""
    short = str(row["machine_id"]).rsplit("-", 1)[-1][:8]
    return f"{safe_text(row['device'], 34)} · {safe_text(short, 8)} · {safe_text(row['backend'], 18)}"


# ---- frames ----------------------------------------------------------------------------------------------------------


def prepared_runs(runs: pd.DataFrame | None, model: str | None) -> pd.DataFrame:
    """The runs of one model (or all), with a setup label, test kind (pp/tg/pg) and base test name (depth removed)."""
    if runs is None or runs.empty:
        raise NoData(f"no benchmark results to plot: {BENCH_HINT}")
    frame = select_model(runs, model).copy()
    labels = frame.apply(machine_label, axis=1)
    several = frame.groupby(["machine_id", "device", "backend"], dropna=False)["settings"].transform("nunique") > 1
    frame["label"] = labels.where(~several, labels + " · " + frame["settings"].map(lambda s: safe_text(s, 32)))
    prompt, gen = frame["n_prompt"].fillna(0) > 0, frame["n_gen"].fillna(0) > 0
    frame["kind"] = np.select([prompt & ~gen, gen & ~prompt, prompt & gen], ["pp", "tg", "pg"], "other")
    frame["base"] = frame["test"].astype(str).str.split(" @ ").str[0]
    frame["n_depth"] = frame["n_depth"].fillna(0)
    frame["bandwidth_gbs"] = pd.to_numeric(frame["bandwidth_gbs"], errors="coerce")
    frame["bytes_per_token"] = pd.to_numeric(frame["bytes_per_token"], errors="coerce")
    return frame


def pooled_samples(column: Iterable) -> list[float]:
    """Every repetition's tokens/s from a column of samples_ts lists."""
    return [float(v) for samples in column if isinstance(samples, list | tuple | np.ndarray) for v in samples]


def pooled_stddev(column: pd.Series) -> float:
    """The root mean square of the runs' standard deviations: one noise figure for runs pooled at one point."""
    values = column.dropna()
    return math.sqrt((values**2).mean()) if len(values) else 0.0


def test_order(frame: pd.DataFrame, tests: Iterable[str]) -> list[str]:
    """Tests pp first, then pp+tg, then tg, each by size."""
    first = frame.drop_duplicates("test").set_index("test")
    rank = {"pp": 0, "pg": 1, "tg": 2, "other": 3}
    return sorted(tests, key=lambda t: (rank[first.at[t, "kind"]], first.at[t, "n_prompt"], first.at[t, "n_gen"], t))


def chosen_tests(frame: pd.DataFrame, tests: Sequence[str]) -> list[str]:
    """The wanted tests that exist; if none do, every test at depth 0 (or every test, when none is at depth 0)."""
    present = set(frame["test"])
    wanted = [t for t in tests if t in present]
    if wanted:
        return wanted
    shallow = set(frame.loc[frame["n_depth"] == 0, "test"])
    return test_order(frame, shallow or present)


def test_ranking(frame: pd.DataFrame, kind: str, prefer: str) -> list[str]:
    """Tests of one kind, the one measured on the most setups first (then the preferred name, then the longest)."""
    of_kind = frame[frame["kind"] == kind]
    if of_kind.empty:
        return []
    cover = of_kind.groupby("test").agg(setups=("label", "nunique"), size=("n_gen", "max"), prompt=("n_prompt", "max"))
    cover["preferred"] = cover.index == prefer
    return list(cover.sort_values(["setups", "preferred", "size", "prompt"], ascending=False).index)


def most_covered(frame: pd.DataFrame, tests: list[str], kind: str, prefer: str) -> str | None:
    """Of the tests of one kind, the one measured on the most setups."""
    ranking = test_ranking(frame[frame["test"].isin(tests)], kind, prefer)
    return ranking[0] if ranking else None


def generation_rates(frame: pd.DataFrame, per: list[str]) -> tuple[pd.DataFrame, str | None]:
    """Median tg tokens/s at depth 0 of the fastest setup for each `per` group, and the tg test(s) used.

    Each group uses the most widely measured tg test it has (tg128 on a tie): generation speed hardly depends on length,
    so a machine measured with tg32 only still gets a point rather than none.
    """
    tg = frame[(frame["kind"] == "tg") & (frame["n_depth"] == 0)].copy()
    ranking = test_ranking(tg, "tg", "tg128")
    if not ranking:
        return pd.DataFrame(), None
    tg["rank"] = tg["test"].map({test: index for index, test in enumerate(ranking)})
    rows = tg[tg["rank"] == tg.groupby(per, dropna=False)["rank"].transform("min")]
    first = {c: (c, "first") for c in ("device", "device_id", "bandwidth_gbs", "bytes_per_token", "model_label", "test")}
    first = {name: spec for name, spec in first.items() if name not in per}
    setups = rows.groupby([*per, "label"], dropna=False).agg(speed=("median_ts", "median"), **first).reset_index()
    fastest = setups.sort_values("speed", ascending=False, kind="stable").drop_duplicates(per)
    used = [test for test in ranking if test in set(fastest["test"])]
    return fastest.reset_index(drop=True), ", ".join(safe_text(test, 16) for test in used[:3]) + (" …" if len(used) > 3 else "")


# ---- layout ----------------------------------------------------------------------------------------------------------


def panel_grid(rows: int, cols: int, width: float, height: float, legend_row: float = 0) -> tuple[Figure, list[Axes]]:
    """A style.new_figure split into rows x cols panels with the house grid, and an empty bottom row for a shared legend
    when `legend_row` (its height as a share of a panel's) is given."""
    figure, first = style.new_figure(width, height)
    if rows * cols == 1 and not legend_row:
        return figure, [first]
    first.remove()
    grid = figure.add_gridspec(rows + bool(legend_row), cols, height_ratios=[1] * rows + ([legend_row] if legend_row else []))
    panels = [figure.add_subplot(grid[row, column]) for row in range(rows) for column in range(cols)]
    for axes in panels:
        axes.grid(True, alpha=0.3)
    return figure, panels


def colour_of(index: int) -> tuple:
    """The tab10 colour for a series index, repeating after ten."""
    return matplotlib.colormaps["tab10"](index % 10)


def marker_of(index: int) -> str:
    """A marker per series index, shifted each ten so colour and marker together stay distinct."""
    return MARKERS[(index // 10 + index) % len(MARKERS)]


def add_legend(axes: Axes, handles: list | None = None, loc: Any = "best", below: bool = False) -> None:
    """A small legend, inside the plot when short, below it in columns when long (or when labels on the points could hide
    under it: `below`)."""
    handles = handles if handles is not None else axes.get_legend_handles_labels()[0]
    if len(handles) <= INSIDE_LEGEND and not below:
        axes.legend(handles=handles, fontsize=8, loc=loc, framealpha=0.9)
        return
    axes.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2, frameon=False)


def plain_log_ticks(axis) -> None:
    """Log-scale ticks at 1-2-5 steps written as plain numbers, not as powers of ten."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def finish_figure(figure: Figure, title: str, source: str, *notes: str) -> Figure:
    """Title the figure and add the source-and-date line (the source is made safe: it may hold a user's path)."""
    figure.suptitle(title, fontsize=13)
    style.source_line(figure, safe_text(source, 160), *notes)
    return figure
