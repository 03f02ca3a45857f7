"""The card figure (`meek plot card`): this machine's card (harness/frontier/card.py) as a picture worth posting.

Its headline says what the machine runs and how far behind the frontier that is ("runs what the frontier could do 23.6
months ago, on GPQA Diamond"); beside it, the frontier's record-setting scores over time with this machine's best model on
that line and the months between the frontier first reaching its score and today. Under the headline, each figure the
headline rests on with its kind (measured, predicted, developer-reported, epoch-run). A machine whose card has no best
model gets the card's lines as text.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from harness.frontier.card import Card, Story
from harness.plots.frontier import BENCHMARK_NAMES, step_to_today
from harness.plots.style import EPOCH_CREDIT, safe_text, source_line

ACCENT = "tab:orange"
FRONTIER = "tab:blue"
WIDTH, HEIGHT = 12.0, 6.3  # inches: 1800 x 945 px at 150 dpi, a link preview's 1.9:1


def _wrapped(text: str, width: int, lines: int) -> str:
    """`text` on at most `lines` lines of `width` characters, an ellipsis where it was cut (never cut off by the edge)."""
    wrapped = textwrap.wrap(safe_text(text, width * lines * 2), width)
    if len(wrapped) > lines:
        wrapped = [*wrapped[: lines - 1], wrapped[lines - 1][: width - 1].rstrip() + "…"]
    return "\n".join(wrapped)


def card_figure(card: Card, kinds: tuple[str, ...]) -> Figure:
    figure = _story_figure(card, card.story) if card.story is not None else _lines_figure(card)
    source_line(figure, EPOCH_CREDIT + " and developers' pages", f"{card.benchmark}; published scores of kind {', '.join(kinds)}")
    return figure


def _story_figure(card: Card, story: Story) -> Figure:
    benchmark = BENCHMARK_NAMES.get(card.benchmark, card.benchmark)
    figure = plt.figure(figsize=(WIDTH, HEIGHT), layout="constrained")
    text, chart = figure.subplots(1, 2, width_ratios=(1, 1.15))
    text.axis("off")
    write = text.text
    write(0, 1.0, f"meek card · {safe_text(card.machine_id, 60)}", fontsize=10, color="0.35", va="top")
    write(0, 0.94, _wrapped(card.device, 60, 1), fontsize=10, color="0.35", va="top")
    if story.months_today > 0:
        headline = f"Runs what the frontier\ncould do {story.months_today:.1f} months ago"
    else:
        headline = "Runs a model as good as\nthe frontier's best"
    write(0, 0.84, headline, fontsize=22, fontweight="bold", va="top", linespacing=1.15)
    subtitle = f"on {benchmark}, with the best open model that runs here at {story.min_tg:g} t/s or more"
    write(0, 0.66, _wrapped(subtitle, 50, 2), fontsize=11, va="top")
    facts = [
        ("best model it runs", story.model, ""),
        ("its published score", f"{story.score:.1f} on {benchmark}", story.score_kind),
        ("speed here", story.speed, story.speed_kind),
        (
            "the frontier first there",
            f"{story.leader}, {story.leader_date:%Y-%m}" if story.leader and story.leader_date is not None else "never",
            "",
        ),
    ]
    y = 0.55
    for label, value, kind in facts:
        value_text = _wrapped(value, 44, 2)
        write(0, y, label, fontsize=9, color="0.35", va="top")
        write(0.34, y, value_text, fontsize=10, fontweight="bold", va="top", linespacing=1.1)
        y -= 0.05 * (value_text.count("\n") + 1)
        if kind:
            kind_text = _wrapped(kind, 64, 3)
            write(0.34, y, kind_text, fontsize=7.5, color="0.4", va="top")
            y -= 0.035 * (kind_text.count("\n") + 1)
        y -= 0.025
    evals = [line for line in card.lines if line.label.startswith("meek eval")]
    for line in evals[:2]:
        write(0, y, line.label, fontsize=9, color="0.35", va="top")
        write(0.34, y, _wrapped(line.value, 56, 2), fontsize=9, va="top")
        y -= 0.08
    _chart(chart, story, benchmark)
    return figure


def _chart(axes, story: Story, benchmark: str) -> None:
    """The frontier's step line, this machine's model on it, and the gap to today."""
    curve = story.curve[pd.to_datetime(story.curve["release_date"]) <= story.today]
    step_to_today(axes, curve, story.today, color=FRONTIER, linewidth=2, label="frontier: best score released so far")
    axes.scatter(pd.to_datetime(curve["release_date"]), curve["score"], color=FRONTIER, s=14, zorder=3)
    axes.scatter([story.released], [story.score], color=ACCENT, s=70, zorder=4, label="the best model this machine runs")
    axes.axhline(story.score, color=ACCENT, linewidth=1, linestyle=":", zorder=1)
    axes.annotate(
        _wrapped(story.model.split(" (")[0], 28, 1),
        (story.released, story.score),
        xytext=(0, -16),
        textcoords="offset points",
        ha="center",
        va="top",
        fontsize=8,
        color=ACCENT,
    )
    if story.leader_date is not None and story.months_today > 0:
        axes.annotate(
            "",
            xy=(story.today, story.score),
            xytext=(story.leader_date, story.score),
            arrowprops={"arrowstyle": "<->", "color": ACCENT, "linewidth": 2},
        )
        middle = story.leader_date + (story.today - story.leader_date) / 2
        axes.text(
            middle,
            story.score,
            f"{story.months_today:.1f} months\n",
            color=ACCENT,
            fontsize=12,
            fontweight="bold",
            ha="center",
            va="bottom",
        )
    axes.axvline(story.today, color="0.5", linewidth=0.8, linestyle="--")
    axes.set_ylabel(f"{benchmark} score")
    axes.set_title(f"{benchmark}: the frontier over time", fontsize=11, loc="left")
    top = max(float(curve["score"].max()) if not curve.empty else story.score, story.score)
    axes.set_ylim(bottom=max(0.0, float(curve["score"].min()) - 5 if not curve.empty else 0.0), top=top + (top * 0.12 + 2))
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    for label in axes.get_xticklabels():
        label.set_rotation(30)
        label.set_ha("right")


def _lines_figure(card: Card) -> Figure:
    """No best model: the card's lines, each with its kind under it."""
    figure = plt.figure(figsize=(WIDTH, 1.6 + 0.5 * len(card.lines)), layout="constrained")
    axes = figure.add_subplot()
    axes.axis("off")
    axes.set_title(f"meek card: {safe_text(card.machine_id, 60)}\n{safe_text(card.device, 80)}", fontsize=12, loc="left")
    for row, line in enumerate(card.lines):
        y = 1 - (row + 0.5) / max(len(card.lines), 1)
        axes.text(0.0, y, safe_text(line.label, 34), fontsize=10, fontweight="bold", va="center", transform=axes.transAxes)
        axes.text(0.3, y, _wrapped(line.value, 100, 2), fontsize=10, va="center", transform=axes.transAxes)
        if line.kind:
            kind_y = y - 0.45 / max(len(card.lines), 1)
            axes.text(0.3, kind_y, _wrapped(line.kind, 130, 1), fontsize=7, color="0.4", va="center", transform=axes.transAxes)
    return figure
