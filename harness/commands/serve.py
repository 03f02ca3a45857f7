"""`meek serve`: the record as a web service over a database (harness/service/, harness/record/); `--import DIR` loads a
results tree through the same ingest as a submission first; `meek serve tokens create NAME` makes a submission token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from harness.errors import EXIT_OK, MeekError, require_existing
from harness.output import Output, printable_field

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

T = TypeVar("T")

DEFAULT_PORT = 8765
DEFAULT_PER_MINUTE = 30
DEFAULT_REBUILD_EVERY = 10.0  # seconds between two rebuilds of the live pages at most


def run(
    db: str | None,
    host: str,
    port: int,
    imports: list[Path],
    require_token: bool,
    per_minute: int,
    out: Output,
    rebuild_every: float = DEFAULT_REBUILD_EVERY,
) -> int:
    from harness.record.database import open_record, shown
    from harness.service.app import Settings
    from harness.service.server import bind, serve

    require_existing(imports)
    engine = open_record(db)
    listener = bind(host, port)  # before the import: a port in use is said at once, not after minutes of loading
    try:
        if imports:
            load(engine, imports, out)
        where = f"[{host}]" if ":" in host else host
        out.line(
            f"serving the record {shown(engine.url)} at http://{where}:{listener.getsockname()[1]}/ "
            f"(pages at /, API /api/v1, OpenAPI /docs; "
            f"{'a token for every submission' if require_token else 'tokens from elsewhere'})"
        )
        serve(Settings(engine, require_token=require_token, per_minute=per_minute, site_interval=rebuild_every), listener)
    finally:
        listener.close()
        engine.dispose()
    return EXIT_OK


def load(engine, paths: list[Path], out: Output) -> None:
    """`--import`: every result file under the paths, each through the submission's checks and keys, with progress and a
    summary (a refused file is named with its reasons; a file already stored is counted)."""
    from harness.record.ingest import Ingestor, import_tree

    def progress(number: int, path: Path) -> None:
        out.status(f"importing {number}: {printable_field(path)}")
        if number % 500 == 0:
            out.line(f"imported {number} file(s)...")

    with out, Ingestor(engine) as ingestor:
        summary = import_tree(ingestor, paths, progress=progress)
    for path, reasons in summary.refused:
        out.warn(f"refused {printable_field(path)}: {printable_field('; '.join(reasons))}")
    out.line(
        f"imported {summary.files} file(s) from {', '.join(map(str, paths))}: {summary.stored} stored, "
        f"{summary.existing} already in the record, {len(summary.refused)} refused"
    )


def _on_record(db: str | None, action: Callable[[Engine], T]) -> tuple[T, str]:
    """`action` on the record at `db`, opened and closed around it; its answer and the record's printable URL."""
    from harness.record.database import open_record, shown

    engine = open_record(db)
    try:
        return action(engine), shown(engine.url)
    finally:
        engine.dispose()


def create_token(db: str | None, name: str, out: Output) -> int:
    from harness.record import tokens

    token, where = _on_record(db, lambda engine: tokens.create(engine, name))
    out.say(token)
    out.line(
        f"token '{name}' for {where}: shown this once (the record keeps only its hash); send it as Authorization: Bearer <token>"
    )
    return EXIT_OK


def list_tokens(db: str | None, out: Output) -> int:
    from harness.record import tokens

    found, where = _on_record(db, tokens.listing)
    if not found:
        out.line(f"no tokens in {where} (meek serve tokens create NAME makes one)")
        return EXIT_OK
    out.table(["token", "made (UTC)"], [(name, f"{made:%Y-%m-%d %H:%M}") for name, made in found])
    return EXIT_OK


def revoke_token(db: str | None, name: str, out: Output) -> int:
    from harness.record import tokens

    removed, where = _on_record(db, lambda engine: tokens.revoke(engine, name))
    if not removed:
        raise MeekError(f"no token named '{printable_field(name)}' in {where} (meek serve tokens list)")
    out.line(f"token '{name}' revoked: it submits nothing more; what it sent stays in the record under its name")
    return EXIT_OK
