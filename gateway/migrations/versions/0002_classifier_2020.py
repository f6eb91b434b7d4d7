"""Data: the executors and the classifier of decision №339 (2020), from the files in gateway/data.

Revision ID: 0002_classifier_2020
Revises: 0001_schema
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.classifier import default_classifier
from gateway.migrations.classifier_step import apply_classifier_versions
from gateway.migrations.tables import codes, executors, items, sections, versions
from gateway.reference_data import load_executor_rows

revision = "0002_classifier_2020"
down_revision = "0001_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.insert(executors), load_executor_rows())
    classifier = default_classifier()
    apply_classifier_versions(bind, classifier, up_to=classifier.versions[0].version)


def downgrade() -> None:
    bind = op.get_bind()
    for table in (codes, items, sections, versions, executors):
        bind.execute(sa.delete(table))
