"""The one migration step every classifier change goes through: what a change file says, in the tables.

A version's codes are rows of ``classifier_codes``; an item's identity is its row in
``classifier_items``. Applying a version adds the version, any new sections and items, and the code
every item carries in it. Requests point at items, so no request moves and none is rewritten. The
step is idempotent: a version already in the database is left as it is. It runs at the end of every
upgrade that reaches the head revision (gateway/migrations/env.py), so adding a change file and
running ``gateway db upgrade`` is all it takes; migrations 0002 and 0003 call it for the first two.
"""

from __future__ import annotations

import logging
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.classifier import Classifier, ClassifierVersion
from gateway.migrations.tables import codes, items, sections, versions

log = logging.getLogger("gateway.migrations.classifier")


def _insert_version(bind: Connection, version: ClassifierVersion) -> None:
    bind.execute(sa.insert(versions), [{"id": version.version, "title": version.title,
                                        "adopted_on": date.fromisoformat(version.adopted_on), "is_current": False}])
    known_sections = set(bind.execute(sa.select(sections.c.code)).scalars())
    new_sections = [{"code": c, "name_uk": n} for c, n in version.sections.items() if c not in known_sections]
    if new_sections:
        bind.execute(sa.insert(sections), new_sections)
    item_ids = {key: item_id for key, item_id in bind.execute(sa.select(items.c.key, items.c.id))}
    for item in version.items:
        if item.key not in item_ids:
            item_ids[item.key] = bind.execute(
                sa.insert(items).returning(items.c.id),
                {"key": item.key, "section_code": item.section, "name_uk": item.name_uk, "urgency": item.urgency,
                 "deadline_hours": item.deadline_hours, "default_executor_id": item.executor,
                 "seasonal": item.seasonal, "introduced_in": version.version},
            ).scalar_one()
    bind.execute(sa.insert(codes), [{"version_id": version.version, "code": item.code,
                                     "item_id": item_ids[item.key]} for item in version.items])


def apply_classifier_versions(bind: Connection, classifier: Classifier, up_to: str | None = None) -> list[str]:
    """Bring the database's classifier up to ``up_to`` (default: the newest version in the data files).

    Returns the versions applied. The newest version in the database is the current one.
    """
    chain = list(classifier.versions)
    if up_to is not None:
        chain = chain[: chain.index(classifier.version(up_to)) + 1]
    present = set(bind.execute(sa.select(versions.c.id)).scalars())
    applied = []
    for version in chain:
        if version.version in present:
            continue
        _insert_version(bind, version)
        applied.append(version.version)
        log.info("classifier %s applied (%s)", version.version, version.source.name if version.source else "")
    if applied:
        bind.execute(sa.update(versions).values(is_current=versions.c.id == applied[-1]))
    return applied


def revert_classifier_version(bind: Connection, classifier: Classifier, version_id: str) -> None:
    """Take the newest version out again; refused while any request uses an item it introduced."""
    version = classifier.version(version_id)
    chain = [v.version for v in classifier.versions]
    newer = set(chain[chain.index(version_id) + 1:]) & set(bind.execute(sa.select(versions.c.id)).scalars())
    if newer:
        raise RuntimeError(f"classifier {', '.join(sorted(newer))} builds on {version_id}; take it out first")
    introduced = sa.select(items.c.id).where(items.c.introduced_in == version_id)
    in_use = bind.execute(sa.text("SELECT 1 FROM requests WHERE classifier_item_id IN (SELECT id FROM "
                                  "classifier_items WHERE introduced_in = :v) LIMIT 1"), {"v": version_id}).first()
    if in_use:
        raise RuntimeError(f"requests use items of classifier {version_id}; refusing to take it out")
    bind.execute(sa.delete(codes).where(codes.c.version_id == version_id))
    bind.execute(sa.delete(items).where(items.c.id.in_(introduced)))
    if version.based_on is not None:
        kept = classifier.version(version.based_on).sections
        bind.execute(sa.delete(sections).where(sections.c.code.not_in(list(kept))))
        bind.execute(sa.update(versions).where(versions.c.id == version.based_on).values(is_current=True))
    bind.execute(sa.delete(versions).where(versions.c.id == version_id))
