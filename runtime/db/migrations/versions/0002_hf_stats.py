"""Last good Hugging Face stats per repository.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create hf_stats."""
    op.create_table(
        "hf_stats",
        sa.Column("repo", sa.String(96), nullable=False),
        sa.Column("revision", sa.String(40), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=True),
        sa.Column("likes", sa.BigInteger(), nullable=True),
        sa.Column("last_modified", sa.String(40), nullable=True),
        sa.Column("gated", sa.String(8), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repo", "revision", name=op.f("pk_hf_stats")),
    )


def downgrade() -> None:
    """Drop hf_stats."""
    op.drop_table("hf_stats")
