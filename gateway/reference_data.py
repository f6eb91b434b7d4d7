"""Executors and classifier from the repository's data files into the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.classifier import DATA_DIR, default_classifier
from gateway.errors import ConfigError
from gateway.models import ClassifierCode, ClassifierItem, ClassifierVersion, Executor
from gateway.yamlfile import load_yaml

EXECUTORS_FILE = DATA_DIR / "executors.yaml"


def load_executor_rows(path: Path = EXECUTORS_FILE) -> list[dict[str, Any]]:
    rows = []
    for position, raw in enumerate(load_yaml(path) or []):
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("name_uk") or not raw.get("kind"):
            raise ConfigError(f"{path}: entry #{position + 1} needs id, name_uk and kind: {raw!r}")
        rows.append({"id": raw["id"], "name_uk": raw["name_uk"], "kind": raw["kind"],
                     "integration": raw.get("integration"), "active": raw.get("active", True)})
    return rows


def sync_executors(session: Session, path: Path = EXECUTORS_FILE) -> int:
    """Upsert executors from the data file; returns how many were added or changed."""
    changed = 0
    for row in load_executor_rows(path):
        executor = session.get(Executor, row["id"])
        if executor is None:
            session.add(Executor(**row))
            changed += 1
            continue
        for key, value in row.items():
            if getattr(executor, key) != value:
                setattr(executor, key, value)
                changed += 1
    return changed


def sync_classifier_names(session: Session) -> int:
    """Refresh names, urgency and deadlines of known items from the current data files.

    Structure (new items, renumbering) changes only through migrations, so its history is kept.
    """
    current = default_classifier().current
    changed = 0
    for item in session.scalars(select(ClassifierItem)):
        data = current.by_key(item.key)
        if data is None:
            continue
        for attr, value in (("name_uk", data.name_uk), ("urgency", data.urgency),
                            ("deadline_hours", data.deadline_hours)):
            if getattr(item, attr) != value:
                setattr(item, attr, value)
                changed += 1
    return changed


def current_version(session: Session) -> str:
    return session.scalars(select(ClassifierVersion.id).where(ClassifierVersion.is_current)).one()


def items_by_code(session: Session, version: str | None = None) -> dict[str, ClassifierItem]:
    version = version or current_version(session)
    rows = session.execute(
        select(ClassifierCode.code, ClassifierItem).join(ClassifierItem).where(ClassifierCode.version_id == version)
    )
    return {code: item for code, item in rows}


def code_of(session: Session, item_id: int, version: str | None = None) -> str:
    version = version or current_version(session)
    return session.scalars(
        select(ClassifierCode.code).where(ClassifierCode.item_id == item_id, ClassifierCode.version_id == version)
    ).one()


def current_code(session: Session, item_id: int) -> tuple[str, str] | None:
    """(code, version) the item carries in the current classifier; None if the item was withdrawn."""
    row = session.execute(
        select(ClassifierCode.code, ClassifierCode.version_id)
        .join(ClassifierVersion, ClassifierVersion.id == ClassifierCode.version_id)
        .where(ClassifierCode.item_id == item_id, ClassifierVersion.is_current)
    ).first()
    return (row[0], row[1]) if row else None
