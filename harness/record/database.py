"""Opening the record: a SQLAlchemy URL to an engine, the schema brought to the newest version by the package's Alembic
migrations (`alembic upgrade head`, run here), and every failure as one line.

SQLite by default ($MEEK_HOME/record.db): WAL, so readers never wait for the writer; synchronous=FULL, so a result
acknowledged to its sender is on disk; a busy timeout, so concurrent writers queue instead of failing.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from harness.errors import MeekError, UsageError
from harness.home import meek_home

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_S = 30


def default_url() -> str:
    return f"sqlite:///{meek_home() / 'record.db'}"


def shown(url: URL) -> str:
    """The URL as it may be printed: without its password."""
    return url.render_as_string(hide_password=True)


def parse_url(text: str | None) -> URL:
    try:
        url = make_url(text or default_url())
    except ArgumentError:
        raise UsageError(
            "--db: not a database URL (sqlite:///path/record.db or postgresql+psycopg://user@host:port/db)"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise UsageError(f"--db: {url.get_backend_name()} is not supported (SQLite or PostgreSQL)")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise UsageError("--db: an SQLite record needs a file (sqlite:///path/record.db): a memory database is lost")
    return url


def engine_for(text: str | None) -> Engine:
    """An engine for the URL (the default record when None); nothing is connected yet."""
    url = parse_url(text)
    try:
        if url.get_backend_name() == "sqlite":
            engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return sa.create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as error:
        raise UsageError(f"--db: no driver for {shown(url)} ({error})") from None


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Create the schema, or upgrade it to the newest migration (Alembic's `upgrade head`, in one transaction)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_record(text: str | None) -> Engine:
    """The record at the URL (default: $MEEK_HOME/record.db), its schema current; MeekError in one line when it cannot
    be opened (no server there, a wrong password, a file that is not a database)."""
    from alembic.util import CommandError

    engine = engine_for(text)
    try:
        migrate(engine)
    except CommandError as error:  # a revision this package does not have: a newer meek-harness made the record
        engine.dispose()
        raise MeekError(f"cannot open the record at {shown(engine.url)}: {error} (upgrade meek-harness)") from None
    except SQLAlchemyError as error:
        engine.dispose()
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise MeekError(
            f"cannot open the record at {shown(engine.url)}: {reason[0] if reason else type(error).__name__}"
        ) from None
    return engine
