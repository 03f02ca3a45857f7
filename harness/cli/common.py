"""The `meek` application, its command groups, and what every command module shares: the output and the one exit-code
policy (harness/errors.py): 0 done, 1 a run or check failed, 2 a usage error, 130 interrupted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import typer

from harness.errors import EXIT_INTERRUPTED, MeekError
from harness.output import Output
from harness.version import __version__

app = typer.Typer(
    help="Benchmark quantised GGUF models on this machine and compare with everyone's: speed and memory (bench), "
    "benchmark scores (eval), result files (validate, submit, import, results, compare, advise), the frontier (gap, plot, "
    "frontier) and a static leaderboard site (report). Exit codes: 0 done, 1 a run or check failed, 2 a usage error, "
    "130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="The model catalogue (models.yaml): list, inspect and verify models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
import_app = typer.Typer(help="Turn other tools' output into result files.", no_args_is_help=True)
app.add_typer(import_app, name="import")
results_app = typer.Typer(help="Result files on disk: upgrade older ones to the current schema.", no_args_is_help=True)
app.add_typer(results_app, name="results")
plot_app = typer.Typer(
    help="Figures as PNG and SVG in plots/: frontier, throughput, depth, pareto, roofline.", no_args_is_help=True
)
app.add_typer(plot_app, name="plot")
frontier_app = typer.Typer(
    help="The frontier score table (Epoch AI data, CC BY 4.0) behind gap and plot frontier.", no_args_is_help=True
)
app.add_typer(frontier_app, name="frontier")
out = Output()

RESULTS_DIR_HELP = "Results tree (folders or files; repeatable). Default: results/."


def results_dirs(paths: list[Path] | None) -> list[Path]:
    return list(paths) if paths else [Path("results")]


def run(action: Callable[[], int | None]) -> NoReturn:
    """Run a command's action (which parses its options and calls one library function) and exit with its code; a
    MeekError becomes one line on stderr and its exit code (2 for a usage error, 1 otherwise); Ctrl-C exits 130."""
    try:
        code = action()
    except MeekError as error:
        out.error(error)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        out.line("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(code or 0)


def given(ctx: typer.Context) -> frozenset[str]:
    """The options the user typed on the command line (not defaults, not environment variables such as MEEK_API_KEY)."""
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
    return frozenset(name for name, source in sources.items() if source is not None and source.name == "COMMANDLINE")


def version_callback(value: bool) -> None:
    if value:
        print(f"meek-harness {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True, help="Show the version and exit."),
) -> None:
    pass
