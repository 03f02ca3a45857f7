"""`meek record pull`: the record served by `meek serve`, from another machine."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import app, out, run

record_app = typer.Typer(
    help="The record served by `meek serve`, from another machine: pull its result files into a results tree "
    "(meek submit --url sends one there).",
    no_args_is_help=True,
)
app.add_typer(record_app, name="record")


@record_app.command(
    "pull",
    epilog="Examples:\n\n"
    "  meek record pull http://127.0.0.1:8765 --results-dir results\n\n"
    "  meek record pull https://record.example/api/v1/results --results-dir pulled\n\n"
    "  meek validate pulled && meek compare --results-dir pulled\n\n"
    "  MEEK_COLLECTOR=https://record.example meek record pull     # where meek submit posts\n\n"
    "  meek record pull https://record.example --snapshot          # refresh the record compare and advise read outside a clone\n\n"
    "Each file is checked as meek validate checks it before it is written under DIR/<machine-id>/, and written once, "
    "whole: a pull stopped halfway keeps every file it finished. A file the tree holds already (the same file, or the "
    "same raw samples) is skipped, so pulling again writes only what is new. compare, advise and report then read "
    "DIR as any results tree. Exit codes: 0 done, 1 the record could not be read (or refused every file), 130 "
    "interrupted.",
)
def pull(
    url: str = typer.Argument(
        ...,
        envvar="MEEK_COLLECTOR",
        help="The record: meek serve's address (http://host:port, or http://host/prefix behind a proxy) or its "
        ".../api/v1/results.",
    ),
    results_dir: Path | None = typer.Option(
        None, "--results-dir", help="The results tree the files go into. Default: results/ (none with --snapshot alone)."
    ),
    snapshot: bool = typer.Option(
        False,
        "--snapshot",
        help="Also keep the whole record as this user's record snapshot ($MEEK_HOME/record-snapshot.tar.xz), which "
        "compare and advise read where there is no results/ folder.",
    ),
) -> None:
    """Copy every result file of a record served by `meek serve` into a results tree, skipping those already there."""
    from harness.commands import record as command

    target = results_dir if results_dir is not None or snapshot else Path("results")
    run(lambda: command.pull(url, target, out, snapshot=snapshot))
