"""The meek-models figure: benchmark score against release date for the frontier, the open-weight models, and the open
models that fit each chosen machine class, with the gap in months and the user's own measured scores as points."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from harness.frontier.gap import MACHINE_CLASSES, best_so_far, first_to_reach, fits
from harness.plots.style import EPOCH_CREDIT, new_figure, safe_text, source_line

BENCHMARK_NAMES = {
    "mmlu": "MMLU",
    "gpqa_diamond": "GPQA Diamond",
    "hellaswag": "HellaSwag",
    "arc_challenge": "ARC-Challenge",
    "gsm8k": "GSM8K",
    "math_level_5": "MATH Level 5",
    "winogrande": "WinoGrande",
    "piqa": "PIQA",
}
CLASS_COLOURS = ["tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]


def step_to_today(axes, curve: pd.DataFrame, today: pd.Timestamp, **style) -> None:
    """A record-setting curve (best_so_far) as steps, held level from its last record to `today`."""
    if curve.empty:
        return
    dates = [*pd.to_datetime(curve["release_date"]), today]
    scores = [*curve["score"], curve["score"].iloc[-1]]
    axes.step(dates, scores, where="post", **style)
    axes.plot(pd.to_datetime(curve["release_date"]), curve["score"], "o", color=style.get("color"), markersize=4)


def _fits_class(name: str):
    return lambda rows: (
        rows["open_weights"].fillna(False).astype(bool)
        & rows["params_total_b"].map(lambda p: pd.notna(p) and fits(float(p), name))
    )


def frontier_figure(
    frame: pd.DataFrame,
    benchmark: str,
    classes: list[str],
    own_scores: pd.DataFrame | None = None,
    today: object = None,
    setting: str | None = None,
) -> Figure:
    """Three kinds of best-so-far curve over release dates, the months each class lags today, and measured points."""
    today = pd.Timestamp(today) if today is not None else pd.Timestamp.today().normalize()
    name = BENCHMARK_NAMES.get(benchmark, benchmark)
    frontier = best_so_far(frame, benchmark, setting)
    open_curve = best_so_far(frame, benchmark, setting, where=lambda r: r["open_weights"].fillna(False).astype(bool))
    figure, (axes, notes) = new_figure(11, 7.6, rows=2, height_ratios=(5, 1.15))
    notes.axis("off")  # the legend and the notes go under the plot: nothing is drawn over the data or its labels
    step_to_today(axes, frontier, today, color="black", linewidth=2, label="frontier (best of any model so far)")
    step_to_today(axes, open_curve, today, color="tab:blue", linewidth=1.6, label="best open-weight model so far")
    for rank, leader in enumerate(frontier.tail(3).itertuples()):  # the latest records, the newest highest: no collisions
        axes.annotate(
            safe_text(leader.model, 24),
            (leader.release_date, leader.score),
            textcoords="offset points",
            xytext=(-6, 4 + 11 * rank),
            fontsize=7,
            ha="right",
            color="0.2",
        )
    gap_lines = []
    for index, class_name in enumerate(classes):
        colour = CLASS_COLOURS[index % len(CLASS_COLOURS)]
        machine = MACHINE_CLASSES[class_name]
        curve = best_so_far(frame, benchmark, setting, where=_fits_class(class_name))
        label = f"best open model that fits {class_name} ({machine.usable_gb:.0f} GB usable, Q4_K_M, 8k context)"
        # interleaved dashes: where two classes hold the same model, both colours show along the shared segment
        dashes = (index * 4 % (4 * max(len(classes), 1)), (4, 4 * (max(len(classes), 1) - 1) or 4))
        step_to_today(axes, curve, today, color=colour, linewidth=1.6, linestyle=dashes, label=label)
        if curve.empty:
            continue
        best = curve.iloc[-1]
        leader = first_to_reach(frontier, best["score"], today)
        if leader is None:
            continue
        months = (today - leader["release_date"]).days / 30.4375
        at_release = (best["release_date"] - leader["release_date"]).days / 30.4375
        axes.annotate(
            "",
            xy=(today, best["score"]),
            xytext=(leader["release_date"], best["score"]),
            arrowprops={"arrowstyle": "<->", "color": colour, "linewidth": 1.0},
        )
        gap_lines.append(
            f"{class_name}: {safe_text(best['model'], 28)} ({best['score']:.1f}, {best['release_date']:%Y-%m}) = the frontier of "
            f"{leader['release_date']:%Y-%m}: {months:.0f} months behind today, {at_release:.0f} months behind at its release"
        )
    data_until = pd.to_datetime(frame.loc[frame["benchmark"] == benchmark, "release_date"]).max()
    if data_until < today:
        axes.axvspan(data_until, today, color="0.92", zorder=0)  # dates on a date axis
        axes.text(
            data_until + (today - data_until) / 2,
            0.5,
            f"no scores in the table\nafter {data_until:%Y-%m}",
            transform=axes.get_xaxis_transform(),
            fontsize=8,
            color="0.4",
            ha="center",
            va="center",
        )
    if own_scores is not None and not own_scores.empty:
        for row in own_scores.itertuples():
            marker = "D" if not row.subset else "d"
            label = f"measured here: {safe_text(row.model, 24)} {safe_text(row.quant, 10) if row.quant else ''}, {row.shots}-shot, meek eval"
            label += ", subset" if row.subset else ""
            axes.plot(
                pd.Timestamp(row.created_utc).tz_localize(None),
                row.value * 100,
                marker,
                markersize=8,
                markerfacecolor="white" if row.subset else "red",
                markeredgecolor="red",
                linestyle="none",
                label=label,
            )
    axes.set_title(f"{name}: the frontier, open-weight models, and what fits a home machine")
    axes.set_xlabel("release date (measured points: date of the run)")
    axes.set_ylabel(f"{name} score (%)")
    axes.set_xlim(right=today + pd.Timedelta(days=60))
    top = max([*frontier["score"], *open_curve["score"]], default=100)
    axes.set_ylim(top=min(top + 9, 105))  # room above the latest records for their names
    handles, labels = axes.get_legend_handles_labels()
    notes.legend(handles, labels, loc="upper center", ncol=2, fontsize=8, frameon=False)
    settings = "all settings as published" if setting is None else f"setting: {setting}"
    kinds = ", ".join(sorted(set(frame.loc[frame["benchmark"] == benchmark, "kind"].dropna()))) if "kind" in frame else ""
    lines = [*gap_lines, f"scores of kind: {kinds or 'not stated'}"]
    notes.text(0.0, 0.0, "\n".join(lines), transform=notes.transAxes, fontsize=8, va="bottom", ha="left", color="0.15")
    source_line(
        figure,
        EPOCH_CREDIT + " and developers' pages",
        f"{settings}; harness scores and published scores are different measurements",
    )
    return figure
