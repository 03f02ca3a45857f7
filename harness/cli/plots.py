"""`meek plot throughput|depth|pareto|roofline`: the figures drawn from a results tree (harness/plots/figures.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import RESULTS_DIR_HELP, out, plot_app, results_dirs, run
from harness.commands.plot import FIGURES


def _register(kind: str, summary: str) -> None:
    """`meek plot <kind>`: the figures drawn from a results tree take the same options."""

    def command(
        results: list[Path] = typer.Option(None, "--results-dir", help=RESULTS_DIR_HELP),
        model: str | None = typer.Option(None, "-m", "--model", help="Only this model (catalogue id, label or sha256 prefix)."),
        out_dir: Path = typer.Option(Path("plots"), "--out", help="Folder for the PNG and SVG."),
    ) -> None:
        from harness.commands import plot as command

        run(lambda: command.figure(kind, results_dirs(results), model, out_dir, out))

    command.__doc__ = summary
    plot_app.command(kind)(command)


for _kind, _figure in FIGURES.items():
    _register(_kind, _figure.summary)
