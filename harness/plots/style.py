"""What every figure shares: a non-interactive backend, one look, a source-and-date line, PNG and SVG side by side."""

from __future__ import annotations

import datetime as dt
import io
import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, works on a headless box

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from harness.files import write_inside

LABEL_CHARS = 40  # longest string from a result file shown in a figure
EPOCH_CREDIT = 'Frontier data: Epoch AI, "Data on AI Benchmarking" (CC BY 4.0), epoch.ai'


def new_figure(
    width: float = 10, height: float = 6, rows: int = 1, height_ratios: tuple[float, ...] | None = None
) -> tuple[Figure, Any]:
    """A figure with the house look: one Axes, or a list of `rows` of them stacked (the first with the grid)."""
    if rows == 1:
        figure, axes = plt.subplots(figsize=(width, height), layout="constrained")
        axes.grid(True, alpha=0.3)
        return figure, axes
    figure, stack = plt.subplots(rows, 1, figsize=(width, height), layout="constrained", height_ratios=height_ratios)
    stack[0].grid(True, alpha=0.3)
    return figure, list(stack)


SOURCE_POINTS = 7
CHAR_WIDTH_IN = 0.62 * SOURCE_POINTS / 72  # an average character of the sans-serif face at that size


def source_line(figure: Figure, *sources: str) -> None:
    """The data sources and the date the figure was made, small, under the plot, wrapped to the figure's width so no
    part is cut off at any size; the plot is laid out above it."""
    text = " · ".join([*sources, f"made {dt.date.today():%Y-%m-%d} with meek-harness"])
    width_in, height_in = figure.get_size_inches()
    lines = textwrap.wrap(text, max(40, int(width_in * 0.98 / CHAR_WIDTH_IN)))
    figure.text(0.01, 0.005, "\n".join(lines), fontsize=SOURCE_POINTS, color="0.35", ha="left", va="bottom")
    engine = figure.get_layout_engine()
    if engine is not None:  # every figure here is made with layout="constrained"
        bottom = min(0.3, (len(lines) * SOURCE_POINTS * 1.35 / 72 + 0.05) / height_in)
        engine.set(rect=(0, bottom, 1, 1 - bottom))  # type: ignore[call-arg]  # ConstrainedLayoutEngine.set takes rect


def save(figure: Figure, out_dir: Path, name: str) -> list[Path]:
    """Write name.png (150 dpi) and name.svg into out_dir (`name` may start with a folder inside it: "assets/depth-x");
    the paths written. Each is drawn into memory, then written through write_inside: a symbolic link planted at either
    name, or at a folder from out_dir down, is refused in one line, never written through."""
    try:
        drawn = []
        for suffix in ("png", "svg"):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix, dpi=150 if suffix == "png" else "figure")  # "figure": savefig's default
            drawn.append((f"{name}.{suffix}", buffer.getvalue()))
    finally:
        plt.close(figure)
    return [write_inside(out_dir, relative, data) for relative, data in drawn]


def safe_text(value: object, limit: int = LABEL_CHARS) -> str:
    """A result-file string fit for figure text: one short line, '$' escaped so it is never mathtext, never legend-hidden."""
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else " ".join(str(value).split())
    text = text or "unknown"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text  # a legend drops labels that start with '_'
