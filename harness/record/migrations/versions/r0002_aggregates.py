"""What compare and advise read, kept with the record: each result's rows as JSON (results.rows, results.rows_key), the
run_groups and result_models aggregates; filled from the stored files (harness/record/ingest.py `rebuild`).

Revision ID: r0002
Revises: r0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None

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


def upgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("rows", sa.Text, nullable=True))
        batch.add_column(sa.Column("rows_key", sa.String(16), nullable=True))
    op.create_table(
        "run_groups",
        sa.Column("id", sa.Integer, primary_key=True),
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
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("results", sa.Integer, nullable=False),
        sa.Column("best_ts", sa.Float, nullable=True),
        sa.Column("medians", sa.Text, nullable=False),
        sa.Column("first_result_id", sa.Integer, nullable=False),
        sa.Column("last_created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(*GROUP_KEY, name="uq_run_groups_key"),
    )
    op.create_index("ix_run_groups_device", "run_groups", ["device_id"])
    op.create_table(
        "result_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("model_label", sa.String, nullable=False),
        sa.Column("results", sa.Integer, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("scores", sa.Integer, nullable=False),
        sa.Column("serving", sa.Integer, nullable=False),
        sa.UniqueConstraint("model", "model_label", name="uq_result_models_key"),
    )
    from harness.record.ingest import rebuild

    rebuild(op.get_bind())  # the rows and aggregates of every result stored at r0001


def downgrade() -> None:
    op.drop_table("result_models")
    op.drop_table("run_groups")
    with op.batch_alter_table("results") as batch:
        batch.drop_column("rows_key")
        batch.drop_column("rows")
