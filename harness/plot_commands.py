"""What `meek plot throughput|depth|pareto|roofline` do: load the valid results, draw, save PNG and SVG."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from harness.errors import MeekError, require_existing
from harness.results.schema import safe_name


def performance_plot(kind: str, results: list[Path], model: str | None, out_dir: Path, out: Console) -> int:
    from harness.aggregate.compare import select_model
    from harness.aggregate.tree import load_tree
    from harness.plots import performance
    from harness.plots.style import save

    require_existing(results, " (run meek bench first, or pass --results)")
    tree = load_tree(results)
    runs = select_model(tree.runs, model)
    scores = select_model(tree.scores, model) if not tree.scores.empty else tree.scores
    files = runs["file"].nunique() if not runs.empty else 0
    source = f"Data: {files} result file(s) from {', '.join(str(p) for p in results)}"
    if tree.rejected:
        source += f" ({len(tree.rejected)} invalid file(s) left out)"
    figures = {
        "throughput": lambda: performance.throughput_figure(runs, source),
        "depth": lambda: performance.depth_figure(runs, source),
        "pareto": lambda: performance.pareto_figure(runs, scores, source),
        "roofline": lambda: performance.roofline_figure(runs, source),
    }
    if runs.empty:
        raise MeekError(f"no valid results in {', '.join(map(str, results))}: run meek bench first")
    paths = save(figures[kind](), out_dir, kind if model is None else f"{kind}-{safe_name(model)}")
    out.print("wrote " + ", ".join(escape(str(p)) for p in paths))
    return 0
