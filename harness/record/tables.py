"""The record's tables (SQLAlchemy Core). The migrations in migrations/versions/ create them; this is what the code
reads and writes, and a test holds the two the same.

- results: one accepted file each, its text as received (what GET /api/v1/results/{id} answers). Unique keys: the
  content hash (the same file twice is stored once) and a hash over its raw samples (a copy under other details is the
  same measurement). Who sent it (a token's name, or "loopback") and when it arrived; never an address.
- runs: each result's runs, a row per test with the device and model keys, indexed for compare and advise.
- tokens: who may submit from elsewhere; only the sha256 of each token is kept.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

results = sa.Table(
    "results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("samples_sha256", sa.String(64), nullable=True),  # none for a file of summary-only runs
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("machine_id", sa.String, nullable=False),
    sa.Column("model", sa.String, nullable=False),  # the model key compare and advise group by
    sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_utc", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sender", sa.String, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.UniqueConstraint("content_sha256", name="uq_results_content"),
    sa.UniqueConstraint("samples_sha256", name="uq_results_samples"),
    sa.Index("ix_results_machine", "machine_id"),
    sa.Index("ix_results_model", "model"),
    sqlite_autoincrement=True,  # an id is never given twice: a result's URL stays its own
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id", name="fk_runs_result"), nullable=False),
    sa.Column("machine_id", sa.String, nullable=False),
    sa.Column("device_id", sa.String, nullable=True),  # None: a device the hardware table does not know
    sa.Column("device", sa.String, nullable=True),
    sa.Column("backend", sa.String, nullable=False),
    sa.Column("model", sa.String, nullable=False),
    sa.Column("test", sa.String, nullable=False),
    sa.Column("n_prompt", sa.Integer, nullable=False),
    sa.Column("n_gen", sa.Integer, nullable=False),
    sa.Column("n_depth", sa.Integer, nullable=False),
    sa.Column("n_threads", sa.Integer, nullable=True),
    sa.Column("median_ts", sa.Float, nullable=True),
    sa.Column("avg_ts", sa.Float, nullable=True),
    sa.Column("stddev_ts", sa.Float, nullable=True),
    sa.Column("n_samples", sa.Integer, nullable=False),
    sa.Column("unstable", sa.Boolean, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_runs_result", "result_id"),
    sa.Index("ix_runs_model_test_device", "model", "test", "device_id"),
    sa.Index("ix_runs_device", "device_id"),
    sqlite_autoincrement=True,
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False),
    sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("name", name="uq_tokens_name"),
    sa.UniqueConstraint("token_sha256", name="uq_tokens_hash"),
)

RUN_FIELDS = [c.name for c in runs.columns if c.name not in ("id", "result_id")]
