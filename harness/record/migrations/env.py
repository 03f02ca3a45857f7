"""Alembic's environment for the record: migrations run on the connection harness/record/database.py hands over (no
alembic.ini: the package carries its migrations and applies them itself when the service starts)."""

from __future__ import annotations

from alembic import context

from harness.record.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
