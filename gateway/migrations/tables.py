"""Lightweight table definitions for data migrations, frozen at the shape those migrations expect,
so later model changes cannot break an old migration."""

from __future__ import annotations

import sqlalchemy as sa

executors = sa.table(
    "executors",
    sa.column("id", sa.String),
    sa.column("name_uk", sa.String),
    sa.column("kind", sa.String),
    sa.column("integration", sa.String),
    sa.column("active", sa.Boolean),
)
versions = sa.table(
    "classifier_versions",
    sa.column("id", sa.String),
    sa.column("title", sa.String),
    sa.column("adopted_on", sa.Date),
    sa.column("is_current", sa.Boolean),
)
sections = sa.table("classifier_sections", sa.column("code", sa.String), sa.column("name_uk", sa.String))
items = sa.table(
    "classifier_items",
    sa.column("id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("section_code", sa.String),
    sa.column("name_uk", sa.String),
    sa.column("urgency", sa.String),
    sa.column("deadline_hours", sa.Integer),
    sa.column("default_executor_id", sa.String),
    sa.column("seasonal", sa.String),
    sa.column("introduced_in", sa.String),
)
codes = sa.table(
    "classifier_codes",
    sa.column("version_id", sa.String),
    sa.column("code", sa.String),
    sa.column("item_id", sa.Integer),
)
