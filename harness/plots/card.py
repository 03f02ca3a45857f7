"""The card figure (`meek plot card`): this machine's card (harness/frontier/card.py) as a figure to share: one line per figure, its kind
beside it."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from harness.frontier.card import Card
from harness.plots.style import EPOCH_CREDIT, safe_text, source_line


def card_figure(card: Card, kinds: tuple[str, ...]) -> Figure:
    figure = plt.figure(figsize=(9, 1.6 + 0.42 * len(card.lines)), layout="constrained")
    axes = figure.add_subplot()
    axes.axis("off")
    axes.set_title(f"meek card: {safe_text(card.machine_id, 60)}\n{safe_text(card.device, 80)}", fontsize=12, loc="left")
    for row, line in enumerate(card.lines):
        y = 1 - (row + 0.5) / max(len(card.lines), 1)
        axes.text(0.0, y, safe_text(line.label, 34), fontsize=10, fontweight="bold", va="center", transform=axes.transAxes)
        axes.text(0.33, y, safe_text(line.value, 70), fontsize=10, va="center", transform=axes.transAxes)
        if line.kind:
            axes.text(
                0.33,
                y - 0.45 / max(len(card.lines), 1),
                safe_text(line.kind, 90),
                fontsize=7,
                color="0.4",
                va="center",
                transform=axes.transAxes,
            )
    source_line(figure, EPOCH_CREDIT + " and developers' pages", f"{card.benchmark}; published scores of kind {', '.join(kinds)}")
    return figure
