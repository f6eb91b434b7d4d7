"""The shared rate limiter's window, so every process talking as one client keeps one budget.

Revision ID: 0006_rate_limits
Revises: 0005_revision_bigint
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_rate_limits"
down_revision = "0005_revision_bigint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gw_rate_buckets",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("touched", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_gw_rate_buckets")),
    )
    op.create_table(
        "gw_rate_slots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("finished", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["key"], ["gw_rate_buckets.key"], name=op.f("fk_gw_rate_slots_key_gw_rate_buckets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_rate_slots")),
    )
    op.create_index(op.f("ix_gw_rate_slots_key"), "gw_rate_slots", ["key"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_gw_rate_slots_key"), table_name="gw_rate_slots")
    op.drop_table("gw_rate_slots")
    op.drop_table("gw_rate_buckets")
