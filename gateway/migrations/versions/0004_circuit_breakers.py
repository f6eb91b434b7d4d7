"""A circuit breaker per utility.

Revision ID: 0004_circuit_breakers
Revises: 0003_decision_2021_329
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.models

revision = "0004_circuit_breakers"
down_revision = "0003_decision_2021_329"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gw_circuit_breakers",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", gateway.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_probe_at", gateway.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", gateway.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_gw_circuit_breakers")),
    )


def downgrade() -> None:
    op.drop_table("gw_circuit_breakers")
