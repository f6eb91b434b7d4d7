"""Data: the executors and the classifier of decision №339 (2020), from the files in gateway/data.

Revision ID: 0002_classifier_2020
Revises: 0001_schema
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

from gateway.classifier import BASE_FILE, load_classifier
from gateway.migrations.tables import codes, executors, items, sections, versions
from gateway.reference_data import load_executor_rows

revision = "0002_classifier_2020"
down_revision = "0001_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    version = load_classifier(BASE_FILE, change_files=()).current
    bind = op.get_bind()
    bind.execute(sa.insert(executors), load_executor_rows())
    bind.execute(
        sa.insert(versions),
        [{"id": version.version, "title": version.title, "adopted_on": date.fromisoformat(version.adopted_on),
          "is_current": True}],
    )
    bind.execute(sa.insert(sections), [{"code": c, "name_uk": n} for c, n in version.sections.items()])
    for item in version.items:
        item_id = bind.execute(
            sa.insert(items).returning(items.c.id),
            {"key": item.key, "section_code": item.section, "name_uk": item.name_uk, "urgency": item.urgency,
             "deadline_hours": item.deadline_hours, "default_executor_id": item.executor,
             "seasonal": item.seasonal, "introduced_in": version.version},
        ).scalar_one()
        bind.execute(sa.insert(codes), {"version_id": version.version, "code": item.code, "item_id": item_id})


def downgrade() -> None:
    bind = op.get_bind()
    for table in (codes, items, sections, versions, executors):
        bind.execute(sa.delete(table))
