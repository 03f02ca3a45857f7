"""The first schema of the record: results (unique content and raw-sample keys), runs (indexed), tokens (hashed).

Revision ID: r0001
Revises:
Create Date: 2026-10-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("samples_sha256", sa.String(64), nullable=True),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("machine_id", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.UniqueConstraint("content_sha256", name="uq_results_content"),
        sa.UniqueConstraint("samples_sha256", name="uq_results_samples"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_results_machine", "results", ["machine_id"])
    op.create_index("ix_results_model", "results", ["model"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id", name="fk_runs_result"), nullable=False),
        sa.Column("machine_id", sa.String, nullable=False),
        sa.Column("device_id", sa.String, nullable=True),
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
        sqlite_autoincrement=True,
    )
    op.create_index("ix_runs_result", "runs", ["result_id"])
    op.create_index("ix_runs_model_test_device", "runs", ["model", "test", "device_id"])
    op.create_index("ix_runs_device", "runs", ["device_id"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_tokens_name"),
        sa.UniqueConstraint("token_sha256", name="uq_tokens_hash"),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_table("runs")
    op.drop_table("results")
