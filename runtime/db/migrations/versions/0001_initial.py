"""Initial schema: registrations, nodes and node_models.

Revision ID: 0001
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the three tables and the index on node_models.model_id."""
    op.create_table(
        "registrations",
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_registrations")),
    )
    op.create_table(
        "nodes",
        sa.Column("runtime_id", sa.String(128), nullable=False),
        sa.Column("machine_name", sa.String(255), nullable=False),
        sa.Column("gpu_memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("runtime_id", name=op.f("pk_nodes")),
    )
    op.create_table(
        "node_models",
        sa.Column("runtime_id", sa.String(128), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["runtime_id"],
            ["nodes.runtime_id"],
            name=op.f("fk_node_models_runtime_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("runtime_id", "model_id", name=op.f("pk_node_models")),
    )
    op.create_index(op.f("ix_node_models_model_id"), "node_models", ["model_id"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index(op.f("ix_node_models_model_id"), table_name="node_models")
    op.drop_table("node_models")
    op.drop_table("nodes")
    op.drop_table("registrations")
