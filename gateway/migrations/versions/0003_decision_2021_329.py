"""Data: decision №329 of 21.07.2021 — insert 3.18, renumber the old 3.18–3.27 to 3.19–3.28, add
section 32 «SOS». Requests point at items, not codes, so every request stays on its item; only the
code each item carries in the new version changes.

Revision ID: 0003_decision_2021_329
Revises: 0002_classifier_2020
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

from gateway.classifier import load_classifier
from gateway.migrations.tables import codes, items, sections, versions

revision = "0003_decision_2021_329"
down_revision = "0002_classifier_2020"
branch_labels = None
depends_on = None

NEW_VERSION = "2021-329"


def upgrade() -> None:
    classifier = load_classifier()
    new = classifier.version(NEW_VERSION)
    bind = op.get_bind()
    bind.execute(sa.update(versions).values(is_current=False))
    bind.execute(
        sa.insert(versions),
        [{"id": new.version, "title": new.title, "adopted_on": date.fromisoformat(new.adopted_on), "is_current": True}],
    )
    known_sections = set(bind.execute(sa.select(sections.c.code)).scalars())
    for code, name in new.sections.items():
        if code not in known_sections:
            bind.execute(sa.insert(sections), {"code": code, "name_uk": name})
    item_ids = {key: item_id for key, item_id in bind.execute(sa.select(items.c.key, items.c.id))}
    for item in new.items:
        if item.key not in item_ids:
            item_ids[item.key] = bind.execute(
                sa.insert(items).returning(items.c.id),
                {"key": item.key, "section_code": item.section, "name_uk": item.name_uk, "urgency": item.urgency,
                 "deadline_hours": item.deadline_hours, "default_executor_id": item.executor,
                 "seasonal": item.seasonal, "introduced_in": new.version},
            ).scalar_one()
        bind.execute(sa.insert(codes), {"version_id": new.version, "code": item.code, "item_id": item_ids[item.key]})


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.delete(codes).where(codes.c.version_id == NEW_VERSION))
    introduced = sa.select(items.c.id).where(items.c.introduced_in == NEW_VERSION)
    if bind.execute(sa.text("SELECT 1 FROM requests WHERE classifier_item_id IN (SELECT id FROM classifier_items "
                            "WHERE introduced_in = :v) LIMIT 1"), {"v": NEW_VERSION}).first():
        raise RuntimeError("requests use items of decision 2021-329; refusing to downgrade")
    bind.execute(sa.delete(items).where(items.c.id.in_(introduced)))
    bind.execute(sa.delete(sections).where(sections.c.code == "32"))
    bind.execute(sa.delete(versions).where(versions.c.id == NEW_VERSION))
    bind.execute(sa.update(versions).where(versions.c.id == "2020-339").values(is_current=True))
