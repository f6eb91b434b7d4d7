"""Deadlines and reports: who extended a request's deadline and when, when it was found overdue, and
the deadline monitor's snapshots.

Revision ID: 0007_deadlines_reports
Revises: 0006_rate_limits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.models import JSONType, UTCDateTime

revision = "0007_deadlines_reports"
down_revision = "0006_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("extended_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("extended_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("overdue_at", UTCDateTime(), nullable=True))
    op.create_table(
        "gw_deadline_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("open_requests", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("newly_overdue", sa.Integer(), nullable=False),
        sa.Column("by_executor", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gw_deadline_snapshots")),
    )
    op.create_index(op.f("ix_gw_deadline_snapshots_taken_at"), "gw_deadline_snapshots", ["taken_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_gw_deadline_snapshots_taken_at"), table_name="gw_deadline_snapshots")
    op.drop_table("gw_deadline_snapshots")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("overdue_at")
        batch.drop_column("extended_at")
        batch.drop_column("extended_by")
