"""The one registry of the figures drawn from a results tree (`meek plot <kind>`), and drawing one of them: load the
valid results, draw, save PNG and SVG. `meek plot frontier` is drawn from the frontier table (harness/commands/plot.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EXIT_OK, UsageError, require_existing
from harness.output import Output


@dataclass(frozen=True)
class FigureKind:
    summary: str  # the command's help line
    draw: Callable  # (runs, scores, source) -> matplotlib Figure


def _throughput(runs, scores, source):
    from harness.plots.performance import throughput_figure

    return throughput_figure(runs, source)


def _depth(runs, scores, source):
    from harness.plots.performance import depth_figure

    return depth_figure(runs, source)


def _pareto(runs, scores, source):
    from harness.plots.performance import pareto_figure

    return pareto_figure(runs, scores, source)


def _roofline(runs, scores, source):
    from harness.plots.performance import roofline_figure

    return roofline_figure(runs, source)


FIGURES: dict[str, FigureKind] = {
    "throughput": FigureKind("pp and tg tokens/s per machine, with error bars from the raw samples.", _throughput),
    "depth": FigureKind("pp and tg tokens/s against context depth (run meek bench -d 0,1024,4096 first).", _depth),
    "pareto": FigureKind(
        "Quality against speed per machine and model (needs speed and scores: meek bench --eval quick).", _pareto
    ),
    "roofline": FigureKind("Generation tokens/s against model size, with each device's memory-bandwidth bound.", _roofline),
}


def draw(kind: str, results: list[Path], model: str | None, out_dir: Path, out: Output) -> int:
    from harness.aggregate.compare import select_model
    from harness.aggregate.tree import load_tree
    from harness.plots.style import save
    from harness.results.store import safe_name

    if kind not in FIGURES:
        raise UsageError(f"unknown figure '{kind}' (choose {', '.join(FIGURES)}, or frontier)")
    require_existing(results, " (run meek bench first, or pass --results-dir)")
    tree = load_tree(results)
    runs = select_model(tree.runs, model)
    scores = select_model(tree.scores, model) if not tree.scores.empty else tree.scores
    if runs.empty:
        raise UsageError(f"no valid results in {', '.join(map(str, results))}: run meek bench first")
    source = f"Data: {runs['file'].nunique()} result file(s) from {', '.join(str(p) for p in results)}"
    if tree.rejected:
        source += f" ({len(tree.rejected)} invalid file(s) left out)"
    paths = save(FIGURES[kind].draw(runs, scores, source), out_dir, kind if model is None else f"{kind}-{safe_name(model)}")
    out.say("wrote " + ", ".join(str(p) for p in paths))
    return EXIT_OK
