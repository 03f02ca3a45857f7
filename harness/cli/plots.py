"""`meek plot throughput|depth|pareto|roofline`: the figures drawn from a results tree."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import out, plot_app, run_reporting_errors

PERFORMANCE_PLOTS = {
    "throughput": "pp and tg tokens/s per machine, with error bars from the raw samples.",
    "depth": "pp and tg tokens/s against context depth (run meek bench -d 0,1024,4096 first).",
    "pareto": "Quality against speed per machine and model (needs speed and scores: meek bench --eval quick).",
    "roofline": "Generation tokens/s against model size, with each device's memory-bandwidth bound.",
}


def _register_performance_plot(kind: str, summary: str) -> None:
    """`meek plot <kind>`: the four figures drawn from a results tree take the same options."""

    def command(
        results: list[Path] = typer.Option([Path("results")], "--results", help="Results folders (repeatable)."),
        model: str | None = typer.Option(None, "-m", "--model", help="Only this model (catalogue id, label or sha256 prefix)."),
        out_dir: Path = typer.Option(Path("plots"), "--out", help="Folder for the PNG and SVG."),
    ) -> None:
        from harness import plot_commands

        run_reporting_errors(plot_commands.performance_plot, kind, results, model, out_dir, out)

    command.__doc__ = summary
    plot_app.command(kind)(command)


for _kind, _summary in PERFORMANCE_PLOTS.items():
    _register_performance_plot(_kind, _summary)
