"""The `meek` application, its command groups, and what every command module shares: the consoles and the one-line errors."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from harness import __version__
from harness.errors import MeekError

app = typer.Typer(
    help="Benchmark quantised GGUF models on this machine and compare with everyone's: speed and memory (bench), "
    "benchmark scores (eval), result files (validate, submit, import, compare, advise), the frontier (gap, plot, frontier) "
    "and a static leaderboard site (report).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="The model catalogue (models.yaml): list, inspect and verify models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
import_app = typer.Typer(help="Turn other tools' output into result files.", no_args_is_help=True)
app.add_typer(import_app, name="import")
plot_app = typer.Typer(
    help="Figures as PNG and SVG in plots/: frontier, throughput, depth, pareto, roofline.", no_args_is_help=True
)
app.add_typer(plot_app, name="plot")
frontier_app = typer.Typer(
    help="The frontier score table (Epoch AI data, CC BY 4.0) behind gap and plot frontier.", no_args_is_help=True
)
app.add_typer(frontier_app, name="frontier")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)  # a pipe gets whole lines


def fail(message: str, code: int = 1) -> None:
    """Say what went wrong in one line on stderr and exit: no traceback for a user's mistake."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def run_reporting_errors(action, *args) -> None:
    """Run a command's action; a MeekError becomes one line on stderr and exit code 1."""
    try:
        action(*args)
    except MeekError as error:
        fail(str(error))


def version_callback(value: bool) -> None:
    if value:
        print(f"meek-harness {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True, help="Show the version and exit."),
) -> None:
    pass
