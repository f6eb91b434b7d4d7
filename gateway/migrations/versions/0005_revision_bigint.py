"""Notice revisions as 64-bit integers: utilities use timestamps (epoch seconds) as revisions, which
pass 2**31 in 2038, and one such notice must not fail a whole page of announcements.

Revision ID: 0005_revision_bigint
Revises: 0004_circuit_breakers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_revision_bigint"
down_revision = "0004_circuit_breakers"
branch_labels = None
depends_on = None

TABLES = ("announcements", "announcement_revisions")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("revision", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("revision", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
