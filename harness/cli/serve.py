"""`meek serve` and `meek serve tokens create`: the record as a web service."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import app, out, run
from harness.commands.serve import DEFAULT_PER_MINUTE, DEFAULT_PORT, DEFAULT_REBUILD_EVERY

DB_HELP = (
    "The record's database as a SQLAlchemy URL: sqlite:///path/record.db, or postgresql+psycopg://user@host:port/db for "
    "a public instance. Default: $MEEK_HOME/record.db (SQLite, WAL; made on first use)."
)
serve_app = typer.Typer(
    help="The record as a web service: submissions checked as meek validate checks them, stored in a database, and "
    "compare and advise answered from it.",
)
app.add_typer(serve_app, name="serve")
tokens_app = typer.Typer(help="Tokens for submitting from other machines (stored hashed).", no_args_is_help=True)
serve_app.add_typer(tokens_app, name="tokens")


@serve_app.callback(
    invoke_without_command=True,
    epilog="Examples:\n\n"
    f"  meek serve                                   # http://127.0.0.1:{DEFAULT_PORT}/ over $MEEK_HOME/record.db\n\n"
    "  meek serve --import results/                 # load the shipped record first\n\n"
    "  meek serve --db postgresql+psycopg://meek@127.0.0.1:5432/record --require-token\n\n"
    "  meek serve tokens create alice               # prints alice's token once\n\n"
    "Pages: the leaderboard at /, and the compare, buying, frontier, machine and device pages of meek report, rebuilt "
    "from the record when results arrive. API (GET /api/v1 describes it): POST /api/v1/results (a result file as JSON; 201 stored, 200 already there, 422 refused with every reason, 413 "
    "over the size cap), GET /api/v1/results (limit, offset), /api/v1/results/{id}, /api/v1/compare?model=&devices=, "
    "/api/v1/advise?model= (the JSON of meek compare / advise --format json); OpenAPI at /docs. Clients on this machine "
    "submit without a token unless --require-token; anyone else sends Authorization: Bearer <token>.",
)
def serve(
    ctx: typer.Context,
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", metavar="PORT", min=1, max=65535, help="Port to listen on."),
    imports: list[Path] = typer.Option(
        None, "--import", help="Load this results tree (repeatable) through the submission checks before serving."
    ),
    require_token: bool = typer.Option(
        False,
        "--require-token",
        help="A token for every submission, loopback clients included (a public instance behind a reverse proxy).",
    ),
    per_minute: int = typer.Option(
        DEFAULT_PER_MINUTE, "--rate-limit", min=1, max=100_000, help="Submissions per token per minute."
    ),
    rebuild_every: float = typer.Option(
        DEFAULT_REBUILD_EVERY,
        "--rebuild-every",
        metavar="SECONDS",
        min=0,
        max=86_400,
        help="Seconds between two rebuilds of the pages at most, when results arrived (0: at once).",
    ),
) -> None:
    """Serve the record: receive result files, keep them in a database, answer compare and advise from it."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = db  # `meek serve --db URL tokens create NAME` works on that record
        return
    from harness.commands import serve as command

    run(lambda: command.run(db, host, port, list(imports or []), require_token, per_minute, out, rebuild_every))


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Who the token is for: shown as the sender of what it submits."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Make a submission token and print it once (the record keeps only its sha256)."""
    from harness.commands import serve as command

    run(lambda: command.create_token(db or ctx.obj, name, out))


@tokens_app.command("list")
def tokens_list(ctx: typer.Context, db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """The record's tokens: names and when each was made (the tokens themselves are not kept)."""
    from harness.commands import serve as command

    run(lambda: command.list_tokens(db or ctx.obj, out))


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The token's name (meek serve tokens list)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Revoke a token: it submits nothing more (what it sent stays, under its name)."""
    from harness.commands import serve as command

    run(lambda: command.revoke_token(db or ctx.obj, name, out))
