"""Submission tokens: made once and shown once (`meek serve tokens create NAME`); the record keeps only their sha256,
so a copy of the database lets no one submit. A token's name is what the record shows as who sent a result."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from harness.errors import MeekError, UsageError
from harness.record.tables import tokens

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PREFIX = "meek_"
RESERVED = {"loopback", "import"}  # the senders of results that came without a token


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(engine: Engine, name: str) -> str:
    """A new token for `name`, returned once; only its hash is stored."""
    if not NAME.match(name) or name.lower() in RESERVED:
        raise UsageError(
            f"token name: '{name[:80]}' is not allowed: letters, digits, '.', '_' and '-', at most 64, "
            f"not {' or '.join(sorted(RESERVED))}"
        )
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(tokens).values(name=name, token_sha256=digest(token), created_utc=dt.datetime.now(dt.timezone.utc))
            )
    except IntegrityError:
        raise MeekError(f"a token named '{name}' exists already: choose another name") from None
    return token


def name_of(engine: Engine, token: str) -> str | None:
    """The name of the token, or None when the record has no such token."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    with engine.connect() as connection:
        return connection.execute(sa.select(tokens.c.name).where(tokens.c.token_sha256 == digest(token))).scalar()


def listing(engine: Engine) -> list[tuple[str, dt.datetime]]:
    """Every token's name and when it was made (the tokens themselves are not kept)."""
    with engine.connect() as connection:
        found = connection.execute(sa.select(tokens.c.name, tokens.c.created_utc).order_by(tokens.c.name))
        return [(name, made) for name, made in found]


def revoke(engine: Engine, name: str) -> bool:
    """Remove the token named `name` (what it sent stays, still showing it as the sender); whether there was one."""
    with engine.begin() as connection:
        return connection.execute(sa.delete(tokens).where(tokens.c.name == name)).rowcount > 0
