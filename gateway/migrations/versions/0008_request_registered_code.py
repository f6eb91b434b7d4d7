"""Each request records the code and classifier version it was registered under.

Requests already in the database get the version in force on their registration day (the newest
adopted on or before it that has their item; an older request than any version that has the item
gets the first that does) and the code their item carries in it.

Revision ID: 0008_request_registered_code
Revises: 0007_deadlines_reports
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_request_registered_code"
down_revision = "0007_deadlines_reports"
branch_labels = None
depends_on = None

VERSION_IN_FORCE = """
UPDATE requests SET registered_classifier_version = (
    SELECT v.id FROM classifier_versions v
    JOIN classifier_codes c ON c.version_id = v.id AND c.item_id = requests.classifier_item_id
    WHERE v.adopted_on <= requests.registered_at ORDER BY v.adopted_on DESC LIMIT 1)
"""
FIRST_VERSION_WITH_THE_ITEM = """
UPDATE requests SET registered_classifier_version = (
    SELECT v.id FROM classifier_versions v
    JOIN classifier_codes c ON c.version_id = v.id AND c.item_id = requests.classifier_item_id
    ORDER BY v.adopted_on LIMIT 1)
WHERE registered_classifier_version IS NULL
"""
CODE_IN_THAT_VERSION = """
UPDATE requests SET registered_code = (
    SELECT c.code FROM classifier_codes c
    WHERE c.version_id = requests.registered_classifier_version AND c.item_id = requests.classifier_item_id)
"""


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("registered_code", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("registered_classifier_version", sa.String(length=32), nullable=True))
        batch.create_foreign_key(op.f("fk_requests_registered_classifier_version_classifier_versions"),
                                 "classifier_versions", ["registered_classifier_version"], ["id"])
    for statement in (VERSION_IN_FORCE, FIRST_VERSION_WITH_THE_ITEM, CODE_IN_THAT_VERSION):
        op.execute(sa.text(statement))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_constraint(op.f("fk_requests_registered_classifier_version_classifier_versions"),
                              type_="foreignkey")
        batch.drop_column("registered_classifier_version")
        batch.drop_column("registered_code")
