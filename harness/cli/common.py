"""The `meek` application, its command groups, and what every command module shares: the output and the one exit-code
policy (harness/errors.py): 0 done, 1 a run or check failed, 2 a usage error, 130 interrupted."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import typer

from harness.errors import EXIT_INTERRUPTED, MeekError
from harness.output import Output
from harness.version import __version__

app = typer.Typer(
    help="Benchmark quantised GGUF models on this machine and compare with everyone's: speed and memory (bench), "
    "benchmark scores (eval), what a quant costs against a reference (quality), the largest context that fits (fit), result files (validate, submit, import, results, compare, advise), the frontier (gap, plot, "
    "frontier), a static leaderboard site (report), and the record as a web service over a database (serve; submit --url "
    "and record pull talk to one). Exit codes: 0 done, 1 a run or check failed, 2 a usage error, "
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
    MeekError becomes one line on stderr and its exit code (2 for a usage error, 1 otherwise); Ctrl-C exits 130.
    SIGTERM and SIGHUP (a `kill`, a closed terminal, a service manager) take the Ctrl-C path, so every server and
    worker meek started is stopped and what finished is saved; the exit code is then 128 + the signal (143, 129), as
    a shell reports a process the signal ended."""
    received: list[int] = []
    previous = _stop_on_termination(received)
    try:
        code = action()
    except MeekError as error:
        out.error(error)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        out.line(f"stopped by {signal.Signals(received[0]).name}" if received else "interrupted")
        raise typer.Exit(128 + received[0] if received else EXIT_INTERRUPTED) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if received and code == EXIT_INTERRUPTED:  # the action caught the interrupt itself and stopped what it ran
        out.line(f"stopped by {signal.Signals(received[0]).name}")
        raise typer.Exit(128 + received[0])
    raise typer.Exit(code or 0)


TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _stop_on_termination(received: list[int]) -> dict:
    """Make SIGTERM and SIGHUP raise KeyboardInterrupt (the first of them only: a second one while meek stops its
    servers does not cut that short), recording which came in `received`; the handlers replaced, to put back. Nothing
    where signals cannot be handled (a thread other than the main one)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def terminate(signum, frame) -> None:
        if not received:
            received.append(signum)
            raise KeyboardInterrupt

    return {signum: signal.signal(signum, terminate) for signum in TERMINATION_SIGNALS}


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
