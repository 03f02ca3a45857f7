"""The record's tables (SQLAlchemy Core). The migrations in migrations/versions/ create them; this is what the code
reads and writes, and a test holds the two the same.

- results: one accepted file each, its text as received (what GET /api/v1/results/{id} answers). Unique keys: the
  content hash (the same file twice is stored once) and a hash over its raw samples (a copy under other details is the
  same measurement). Who sent it (a token's name, or "loopback") and when it arrived; never an address.
- runs: each result's runs, a row per test with the device and model keys, indexed for compare and advise.
- tokens: who may submit from elsewhere; only the sha256 of each token is kept.

Kept up to date on ingest, in the insert's transaction (r0002), so compare and advise never parse the stored files:
- results.rows: the rows compare reads (run_rows, score_rows, serving_rows: harness/record/rows.py) as JSON, with
  rows_key, the fingerprint of the code and catalogue that made them (rows made by another version are made again).
- run_groups: per model, test, device, machine, backend and settings key, the runs and results and their medians
  (advise's canonical cells are medians per machine: harness/aggregate/canonical.py), the best median and the last
  date; upserted (INSERT ... ON CONFLICT DO UPDATE), so concurrent ingests add up.
- result_models: per model key and label, how many results, runs, scores and serving points (which model a name
  means, and the model list of an unknown model's error).
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
    sa.Column("rows", sa.Text, nullable=True),  # JSON: {"runs", "scores", "serving"}, each a list of rows as lists
    sa.Column("rows_key", sa.String(16), nullable=True),
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

GROUP_KEY = [
    "model",
    "test",
    "device_id",
    "machine_id",
    "backend",
    "runtime",
    "n_gpu_layers",
    "n_prompt",
    "n_gen",
    "n_depth",
    "split",
    "unstable",
    "source",
]
run_groups = sa.Table(
    "run_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # the key: no NULLs (a NULL never conflicts), '' or -1 stand for none
    sa.Column("model", sa.String, nullable=False),
    sa.Column("test", sa.String, nullable=False),
    sa.Column("device_id", sa.String, nullable=False),
    sa.Column("machine_id", sa.String, nullable=False),
    sa.Column("backend", sa.String, nullable=False),
    sa.Column("runtime", sa.String, nullable=False),
    sa.Column("n_gpu_layers", sa.Integer, nullable=False),
    sa.Column("n_prompt", sa.Integer, nullable=False),
    sa.Column("n_gen", sa.Integer, nullable=False),
    sa.Column("n_depth", sa.Integer, nullable=False),
    sa.Column("split", sa.String, nullable=False),
    sa.Column("unstable", sa.Boolean, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    # the figures
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("results", sa.Integer, nullable=False),
    sa.Column("best_ts", sa.Float, nullable=True),
    sa.Column("medians", sa.Text, nullable=False),  # every run's median t/s, comma separated ('nan' for none)
    sa.Column("first_result_id", sa.Integer, nullable=False),
    sa.Column("last_created_utc", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint(*GROUP_KEY, name="uq_run_groups_key"),
    sa.Index("ix_run_groups_device", "device_id"),
)

result_models = sa.Table(
    "result_models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String, nullable=False),
    sa.Column("model_label", sa.String, nullable=False),
    sa.Column("results", sa.Integer, nullable=False),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("scores", sa.Integer, nullable=False),
    sa.Column("serving", sa.Integer, nullable=False),
    sa.UniqueConstraint("model", "model_label", name="uq_result_models_key"),
)

RUN_FIELDS = [c.name for c in runs.columns if c.name not in ("id", "result_id")]
