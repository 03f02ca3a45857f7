"""`meek report` and `meek schema`: the static site and the result file's JSON Schema."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import RESULTS_DIR_HELP, app, out, results_dirs, run


@app.command(
    epilog="Examples:\n\n  meek report --out site/          # then open site/index.html\n\n"
    "  meek report --results-dir results/ --results-dir other/ --out /tmp/site\n\n"
    "Pages: leaderboard (sort by any column; filter by model, tier, vendor, memory), one page per machine, two machines "
    "side by side, the buying view (t/s per dollar and per watt), the frontier charts. Only files that pass validation "
    "are used; every string is escaped.",
)
def report(
    paths: list[Path] = typer.Option(None, "--results-dir", help=RESULTS_DIR_HELP),
    out_dir: Path = typer.Option(Path("site"), "--out", help="Folder for the site (created)."),
) -> None:
    """Build a static site from a results tree: browsable offline, publishable as is."""
    from harness.commands import report as command

    run(lambda: command.run(results_dirs(paths), out_dir, out))


@app.command()
def schema(
    write: Path | None = typer.Option(None, "--write", help="Write the JSON Schema to this file instead of printing it."),
) -> None:
    """The JSON Schema of result files (the current schema_version)."""
    from harness.commands.report import schema as write_schema

    run(lambda: write_schema(write, out))
