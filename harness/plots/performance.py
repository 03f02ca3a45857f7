"""Performance figures from a results tree's runs and scores (see harness/aggregate/tree.py).

throughput: tokens/s per machine for each test; depth: tokens/s against context depth; pareto: benchmark score against
generation speed, with the front of choices nothing beats on both; roofline: generation speed against the weight bytes
read per token, under each device's memory-bandwidth bound. Every string from a result file is made safe for figure text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.plots.panels import (
    DEFAULT_TESTS,
    DEPTH_HINT,
    KIND_NAMES,
    LABEL_BOX,
    MAX_PANELS,
    NoData,
    add_legend,
    chosen_tests,
    colour_of,
    finish_figure,
    generation_rates,
    marker_of,
    most_covered,
    panel_grid,
    plain_log_ticks,
    pooled_samples,
    pooled_stddev,
    prepared_runs,
    test_order,
)
from harness.plots.style import safe_text

# ---- throughput ------------------------------------------------------------------------------------------------------


def bar_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per setup and test: the median of the runs' medians and the lowest and highest single repetition."""
    rows = []
    for (label, test), group in frame.groupby(["label", "test"], sort=False):
        median = float(group["median_ts"].median())
        samples = pooled_samples(group["samples_ts"]) + [median]
        rows.append({"label": label, "test": test, "median": median, "low": min(samples), "high": max(samples)})
    return pd.DataFrame(rows, columns=["label", "test", "median", "low", "high"])


def _bar_order(stats: pd.DataFrame, key_test: str | None) -> list[str]:
    """Setups fastest first by the key test; setups without it after, by their best rate."""
    wide = stats.pivot(index="label", columns="test", values="median")
    key = wide[key_test] if key_test in wide else pd.Series(np.nan, index=wide.index)
    order = pd.DataFrame({"key": key.fillna(-1.0), "best": wide.max(axis=1)})
    return list(order.sort_values(["key", "best"], ascending=False).index)


def _bar_positions(stats: pd.DataFrame, order: list[str], tests: list[str]) -> pd.DataFrame:
    """Each bar's y: setups one unit apart, a setup's own bars packed around its tick (no gaps for tests it lacks)."""
    stats = stats.assign(rank=stats["test"].map(tests.index)).sort_values("rank")
    stats["slot"] = stats.groupby("label").cumcount()
    stats["slots"] = stats.groupby("label")["test"].transform("size")
    height = 0.8 / stats["slots"].max()
    stats["y"] = stats["label"].map(order.index) + (stats["slot"] - (stats["slots"] - 1) / 2) * height
    stats["height"] = height
    return stats


def _rate(value: float) -> str:
    """A rate written as it would be read: 9000, 143, 56.9."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _draw_bars(axes: Axes, stats: pd.DataFrame, order: list[str], tests: list[str], colours: dict[str, int]) -> None:
    """Horizontal bars, one group per setup in `order`, one bar per test, whiskers from min to max repetition."""
    bars = _bar_positions(stats[stats["test"].isin(tests)], order, tests)
    for test in tests:
        part = bars[bars["test"] == test]
        errors = [(part["median"] - part["low"]).clip(lower=0), (part["high"] - part["median"]).clip(lower=0)]
        axes.barh(
            part["y"],
            part["median"],
            height=part["height"] * 0.9,
            xerr=errors,
            color=colour_of(colours[test]),
            label=safe_text(test),
            error_kw={"ecolor": "0.2", "capsize": 2, "elinewidth": 1},
        )
        for y, median, high in zip(part["y"], part["median"], part["high"], strict=True):
            axes.text(high, y, f" {_rate(median)}", va="center", fontsize=7)
    axes.set_yticks(range(len(order)), order, fontsize=8)
    axes.set_ylim(len(order) - 0.5, -0.5)  # fastest at the top
    axes.set_xlim(0, bars["high"].max() * 1.18)
    axes.set_xlabel("tokens/s (whiskers: min–max of repetitions)")


def _models_by_size(frame: pd.DataFrame) -> list[str]:
    """Models with the most setups first: the panels worth showing when there are too many."""
    counts = frame.groupby("model")["label"].nunique()
    return list(counts.sort_values(ascending=False, kind="stable").index)


def _row_height(rows: pd.DataFrame) -> float:
    """Inches for one model's row of panels: room for every bar and its setup's name."""
    per_setup = rows.groupby(["label", "kind"])["test"].nunique().max()
    return 1.1 + rows["label"].nunique() * (0.12 + 0.22 * per_setup)


def _draw_model_row(panels: list[Axes], rows: pd.DataFrame, kinds: list[str], tests: list[str], title: str) -> None:
    """One model: a panel per test kind (own x scale: pp is often 10x tg), setups in one order, fastest tg first."""
    stats = bar_stats(rows)
    key_test = most_covered(rows, tests, "tg", "tg128") or most_covered(rows, tests, "pp", "pp512")
    order = _bar_order(stats, key_test)
    colours = {test: index for index, test in enumerate(tests)}
    for column, (axes, kind) in enumerate(zip(panels, kinds, strict=True)):
        of_kind = [t for t in tests if t in set(rows.loc[rows["kind"] == kind, "test"])]
        axes.set_title(f"{title}{KIND_NAMES[kind]}" + (f" ({safe_text(of_kind[0])})" if len(of_kind) == 1 else ""), fontsize=10)
        if not of_kind:
            axes.set_axis_off()
            continue
        _draw_bars(axes, stats, order, of_kind, colours)
        if column:
            axes.tick_params(labelleft=False)
        if len(of_kind) > 1:
            add_legend(axes, loc="lower right")


def throughput_figure(runs: pd.DataFrame, source: str, tests: Sequence[str] = DEFAULT_TESTS, model: str | None = None) -> Figure:
    """Median tokens/s per machine for each test (fastest generation first), with min–max whiskers of every repetition."""
    frame = prepared_runs(runs, model)
    tests = test_order(frame, chosen_tests(frame, tests))
    frame = frame[frame["test"].isin(tests)]
    models = _models_by_size(frame)
    shown = models[:MAX_PANELS]
    kinds = [kind for kind in ("pp", "pg", "tg", "other") if kind in set(frame["kind"])]
    height = 1.0 + sum(_row_height(frame[frame["model"] == name]) for name in shown)
    figure, panels = panel_grid(len(shown), len(kinds), 6 + 3.5 * len(kinds), min(max(height, 4.5), 40))
    for row, name in enumerate(shown):
        rows = frame[frame["model"] == name]
        title = f"{safe_text(rows['model_label'].iloc[0], 30)}: " if len(shown) > 1 else ""
        _draw_model_row(panels[row * len(kinds) : (row + 1) * len(kinds)], rows, kinds, tests, title)
    notes = [f"{len(models) - len(shown)} more model(s) not shown: pick one with --model"] if len(models) > len(shown) else []
    title = "Throughput by machine" + (f": {safe_text(frame['model_label'].iloc[0])}" if len(models) == 1 else "")
    return finish_figure(figure, title, source, *notes)


# ---- depth -----------------------------------------------------------------------------------------------------------


def depth_series(frame: pd.DataFrame) -> pd.DataFrame:
    """Per setup, model and kind (pp/tg): the base test measured at the most depths, its median and noise at each depth."""
    frame = frame[frame["kind"].isin(["pp", "tg"])]
    points = (
        frame.groupby(["label", "model", "kind", "base", "n_depth"], dropna=False)
        .agg(
            median=("median_ts", "median"),
            stddev=("stddev_ts", pooled_stddev),
            model_label=("model_label", "first"),
            size=("n_prompt", "max"),
            gen=("n_gen", "max"),
        )
        .reset_index()
    )
    if points.empty:
        return points
    points["depths"] = points.groupby(["label", "model", "kind", "base"])["n_depth"].transform("nunique")
    points["default"] = points["base"].isin(DEFAULT_TESTS)
    points = points[points["depths"] >= 2]
    best = points.sort_values(["depths", "default", "size", "gen"], ascending=False, kind="stable").drop_duplicates(
        ["label", "model", "kind"]
    )[["label", "model", "kind", "base"]]
    return points.merge(best).sort_values(["kind", "label", "model", "n_depth"]).reset_index(drop=True)


def _draw_depth(axes: Axes, lines: pd.DataFrame, kind: str, colours: dict[str, int], title: str, first: bool) -> None:
    """One line with ±stddev error bars per setup, or a note saying what to run when there is none."""
    bases = sorted(set(lines["base"]), key=lambda base: (len(base), base))
    axes.set_title(
        f"{title}{KIND_NAMES[kind]}" + (f" ({', '.join(safe_text(b, 16) for b in bases[:3])})" if bases else ""), fontsize=10
    )
    axes.set_xlabel("context depth, tokens already in the KV cache")
    axes.set_ylabel("tokens/s (median; bars ±1 stddev of repetitions)" if first else "tokens/s")
    if lines.empty:
        axes.text(
            0.5,
            0.5,
            f"no {kind} results at more than one depth:\n{DEPTH_HINT}",
            ha="center",
            va="center",
            transform=axes.transAxes,
            fontsize=9,
            color="0.35",
        )
        return
    for (label, _), line in lines.groupby(["label", "base"], sort=False):
        index = colours[label]
        axes.errorbar(
            line["n_depth"],
            line["median"],
            yerr=line["stddev"],
            marker=marker_of(index),
            color=colour_of(index),
            capsize=3,
            markersize=5,
            linewidth=1.5,
            label=label,
        )
        if len(bases) > 1:  # the legend names setups, so say which test each line is
            axes.annotate(
                safe_text(line["base"].iloc[0], 16),
                (line["n_depth"].iloc[-1], line["median"].iloc[-1]),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=7,
                color=colour_of(index),
            )
    axes.set_ylim(bottom=0)
    axes.set_xlim(-0.03 * lines["n_depth"].max(), 1.1 * lines["n_depth"].max())


def _legend_row(figure: Figure, handles: list, rows: int) -> None:
    """One legend for all panels in a row of its own under them: a setup has the same colour and marker everywhere."""
    grid = figure.axes[0].get_gridspec()
    assert grid is not None  # the panels were laid out on a grid
    holder = figure.add_subplot(grid[rows, :])
    holder.set_axis_off()
    holder.legend(handles=handles, loc="center", ncols=min(3, len(handles)), fontsize=8, frameon=False)


def _machine_handles(colours: dict[str, int]) -> list[Line2D]:
    """Legend entries for setups: their colour and marker, no data."""
    return [Line2D([], [], color=colour_of(i), marker=marker_of(i), markersize=5, label=label) for label, i in colours.items()]


def depth_figure(runs: pd.DataFrame, source: str, model: str | None = None) -> Figure:
    """Prompt processing (left) and generation (right) tokens/s against context depth: how speed falls as context fills."""
    series = depth_series(prepared_runs(runs, model))
    if series.empty:
        raise NoData(f"no pp or tg results at more than one context depth: {DEPTH_HINT}")
    colours = {label: index for index, label in enumerate(sorted(set(series["label"])))}
    models = _models_by_size(series)
    shown = models[:MAX_PANELS]
    legend_height = 0.2 + 0.2 * math.ceil(len(colours) / 3)
    figure, panels = panel_grid(len(shown), 2, 13, min(1.2 + 4.2 * len(shown) + legend_height, 40), legend_height / 4.2)
    for row, name in enumerate(shown):
        lines = series[series["model"] == name]
        title = f"{safe_text(lines['model_label'].iloc[0], 30)}: " if len(shown) > 1 else ""
        for column, kind in enumerate(("pp", "tg")):
            _draw_depth(panels[2 * row + column], lines[lines["kind"] == kind], kind, colours, title, column == 0)
    _legend_row(figure, _machine_handles(colours), len(shown))
    notes = [f"{len(models) - len(shown)} more model(s) not shown: pick one with --model"] if len(models) > len(shown) else []
    title = "Speed against context depth" + ("" if len(models) > 1 else f": {safe_text(series['model_label'].iloc[0])}")
    return finish_figure(figure, title, source, *notes)


# ---- pareto ----------------------------------------------------------------------------------------------------------


def pareto_front(points: pd.DataFrame, x: str = "speed", y: str = "score") -> pd.DataFrame:
    """The points no other point matches or beats on both axes while beating on one: the choices worth making."""
    xs, ys = points[x].to_numpy(float), points[y].to_numpy(float)
    dominated = [bool(((xs >= xi) & (ys >= yi) & ((xs > xi) | (ys > yi))).any()) for xi, yi in zip(xs, ys, strict=True)]
    return points[~np.array(dominated, dtype=bool)].sort_values([x, y], ascending=[True, False])


def default_task(scores: pd.DataFrame) -> str:
    """The task with the most primary scores (ties: alphabetical)."""
    counts = scores["task"].value_counts()
    return min(counts.index, key=lambda task: (-counts[task], str(task)))


def model_scores(scores: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per model, the median primary score of the task in percent; full-set scores win over subset scores."""
    rows = scores[scores["task"] == task].copy()
    rows["subset"] = rows["subset"].fillna(False).astype(bool)
    rows = rows[rows["subset"] == rows.groupby("model")["subset"].transform("min")]
    grouped = rows.groupby("model").agg(
        score=("value", "median"), subset=("subset", "first"), metric=("metric", "first"), shots=("shots", "first")
    )
    grouped["score"] *= 100
    return grouped.reset_index()


def quality_speed_points(
    runs: pd.DataFrame, scores: pd.DataFrame, task: str | None = None, model: str | None = None
) -> tuple[pd.DataFrame, str, str]:
    """One row per (machine, model) with both a generation rate and a score of the model; the task and tg test used."""
    primary = scores[scores["primary"].fillna(False).astype(bool)] if scores is not None and not scores.empty else pd.DataFrame()
    if primary.empty:
        raise NoData("no benchmark scores to plot: run meek bench --eval quick (or meek eval)")
    task = task or default_task(primary)
    if task not in set(primary["task"]):
        raise NoData(f"no scores for task '{task}' (tasks with scores: {', '.join(sorted(set(primary['task'])))})")
    rates, test = generation_rates(prepared_runs(runs, model), ["machine_id", "model"])
    points = rates.merge(model_scores(primary, task), on="model") if test else pd.DataFrame()
    if not test or points.empty:  # no tg test: no points
        raise NoData(f"no model has both a {task} score and a generation (tg) result at depth 0: run meek bench --eval quick")
    return points, task, test


def _draw_points(axes: Axes, points: pd.DataFrame) -> list:
    """One marker per (machine, model), colour and shape by machine, hollow for subset scores; the legend handles.

    A model's score is measured once and holds on every machine, so its points lie on one row, named at the fastest."""
    handles = []
    for index, (label, group) in enumerate(points.groupby("label", sort=True)):
        colour, marker = colour_of(index), marker_of(index)
        for subset, part in group.groupby("subset"):
            axes.scatter(
                part["speed"],
                part["score"],
                s=50,
                marker=marker,
                zorder=3,
                linewidths=1.5,
                facecolors="none" if subset else colour,
                edgecolors=colour,
            )
        handles.append(Line2D([], [], linestyle="none", marker=marker, color=colour, label=label))
    fastest = points.sort_values("speed").drop_duplicates("model", keep="last")  # a model's points share its score: name it once
    for _, point in fastest.iterrows():
        axes.annotate(
            safe_text(point["model_label"], 24),
            (point["speed"], point["score"]),
            xytext=(0, 8),
            textcoords="offset points",
            fontsize=8,
            color="0.2",
            ha="center",
            bbox=LABEL_BOX,
        )
    return handles


def pareto_figure(
    runs: pd.DataFrame, scores: pd.DataFrame, source: str, task: str | None = None, model: str | None = None
) -> Figure:
    """Benchmark score against generation speed per (machine, model), with the front of points nothing beats on both."""
    points, task, test = quality_speed_points(runs, scores, task, model)
    figure, (axes,) = panel_grid(1, 1, 10, 6.5)
    handles = _draw_points(axes, points)
    front = pareto_front(points)
    axes.step(front["speed"], front["score"], where="pre", color="0.4", linewidth=1.2, zorder=2, label="Pareto front")
    handles.append(Line2D([], [], color="0.4", linewidth=1.2, label="Pareto front (nothing both faster and better)"))
    if points["subset"].any():
        handles.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor="none", color="0.3", label="subset score"))
    if points["speed"].max() > 10 * points["speed"].min():
        axes.set_xscale("log")
        plain_log_ticks(axes.xaxis)
    axes.margins(x=0.15, y=0.12)
    axes.set_xlabel(f"generation tokens/s ({safe_text(test)} at depth 0, median; fastest setup per machine)")
    first = points.iloc[0]
    axes.set_ylabel(f"{safe_text(task)} score, % ({safe_text(first['metric'], 20)}, {first['shots']}-shot; median over files)")
    add_legend(axes, handles, below=True)
    return finish_figure(figure, f"Quality against speed: {safe_text(task)}", source)


# ---- roofline --------------------------------------------------------------------------------------------------------


def roofline_points(runs: pd.DataFrame, model: str | None = None) -> tuple[pd.DataFrame, str]:
    """One row per (machine, device, model) with a tg rate at depth 0 and a known model size; the tg test used."""
    rates, test = generation_rates(prepared_runs(runs, model), ["machine_id", "device", "model"])
    points = rates[rates["bytes_per_token"] > 0].copy() if test else pd.DataFrame()
    if not test or points.empty:  # no tg test: no points
        raise NoData("no generation (tg) results at depth 0 with a known model size: run meek bench -n 128")
    points["gb_per_token"] = points["bytes_per_token"] / 1e9
    points["bound"] = points["bandwidth_gbs"] / points["gb_per_token"]
    return points.reset_index(drop=True), test


def _draw_bounds(axes: Axes, points: pd.DataFrame, colours: dict[str, int], xs: tuple[float, float]) -> list:
    """A dashed bandwidth/bytes line per device with a known bandwidth; legend handles, one note for the rest."""
    handles = []
    for device, group in points[points["bandwidth_gbs"].notna()].groupby("device"):
        bandwidth = float(group["bandwidth_gbs"].iloc[0])
        grid = np.unique(np.concatenate([np.geomspace(*xs, 50), group["gb_per_token"].to_numpy(float)]))
        label = f"{safe_text(device, 32)} bound ({bandwidth:g} GB/s)"
        handles += axes.plot(grid, bandwidth / grid, linestyle="--", linewidth=1.2, color=colour_of(colours[device]), label=label)
    unknown = sorted(set(points.loc[points["bandwidth_gbs"].isna(), "device"]))
    if unknown:
        names = ", ".join(safe_text(d, 28) for d in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        handles.append(Line2D([], [], linestyle="none", label=f"no bound line for {names}: not in the hardware table"))
    return handles


def roofline_figure(runs: pd.DataFrame, source: str, model: str | None = None) -> Figure:
    """Generation tokens/s against weight GB per token (log-log) under each device's bandwidth bound: how near the limit."""
    points, test = roofline_points(runs, model)
    colours = {device: index for index, device in enumerate(sorted(set(points["device"])))}
    figure, (axes,) = panel_grid(1, 1, 10, 6.5)
    xs = (points["gb_per_token"].min() / 2, points["gb_per_token"].max() * 2)
    handles = []
    for index, (label, group) in enumerate(points.groupby("label", sort=True)):
        colour = colour_of(colours[group["device"].iloc[0]])
        handles.append(
            axes.scatter(
                group["gb_per_token"], group["speed"], s=50, marker=marker_of(index), color=colour, zorder=3, label=label
            )
        )
    _label_roofline_points(axes, points)
    handles += _draw_bounds(axes, points, colours, xs)
    _roofline_axes(axes, points, xs, test)
    add_legend(axes, handles, below=True)
    note = "bound = bandwidth ÷ bytes read per token; % = share of the bound reached"
    return finish_figure(figure, "Generation speed against the memory-bandwidth bound", source, note)


def _label_roofline_points(axes: Axes, points: pd.DataFrame) -> None:
    """Each point's share of its bound beside it; each model's name once, above its column of points."""
    for _, point in points[points["bound"].notna()].iterrows():
        axes.annotate(
            f"{point['speed'] / point['bound']:.0%}",
            (point["gb_per_token"], point["speed"]),
            xytext=(6, 0),
            textcoords="offset points",
            fontsize=7,
            color="0.25",
            va="center",
        )
    for _, point in points.sort_values("speed").drop_duplicates("model", keep="last").iterrows():
        axes.annotate(
            safe_text(point["model_label"], 24),
            (point["gb_per_token"], point["speed"]),
            xytext=(0, 9),
            textcoords="offset points",
            fontsize=8,
            color="0.2",
            ha="center",
            bbox=LABEL_BOX,
        )


def _roofline_axes(axes: Axes, points: pd.DataFrame, xs: tuple[float, float], test: str) -> None:
    """Log-log axes framing the points and the bounds at the points' sizes."""
    axes.set_xscale("log")
    axes.set_yscale("log")
    top = max(points["speed"].max(), points["bound"].max(skipna=True) if points["bound"].notna().any() else 0)
    axes.set_xlim(*xs)
    axes.set_ylim(points["speed"].min() / 2, top * 1.6)
    plain_log_ticks(axes.xaxis)
    plain_log_ticks(axes.yaxis)
    axes.set_xlabel("weights read per generated token, GB (log scale; active experts only for MoE)")
    axes.set_ylabel(f"generation tokens/s ({safe_text(test)} at depth 0; log scale)")
