"""Throw-away PostgreSQL databases for the benchmark: migrated once, copied per measurement.

Names carry ``gw_bench_`` and the run id, and every one is dropped when the run ends (also after a
failure), so runs beside the test suite or another run never meet.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from gateway.db import upgrade

ADMIN_URL = os.environ.get("GATEWAY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def url_of(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}".replace("postgresql://", "postgresql+psycopg://", 1)


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


class Databases:
    """Creates migrated databases (from one template) and drops them all at the end."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self._template: str | None = None
        self._made: list[str] = []
        self._counter = itertools.count()

    def _name(self) -> str:
        return f"gw_bench_{self.run_id}_{next(self._counter)}"

    def fresh(self) -> str:
        """A newly migrated database; returns its SQLAlchemy URL."""
        if self._template is None:
            self._template = f"gw_bench_{self.run_id}_tpl"
            _admin(f'CREATE DATABASE "{self._template}"')
            upgrade(url_of(self._template))
        return self.copy_of(self._template)

    def copy_of(self, database: str) -> str:
        """An exact copy of ``database`` (nobody may be connected to it)."""
        name = self._name()
        self._made.append(name)
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{database.rsplit("/", 1)[-1]}"')
        return url_of(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[-1]
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._made:
            self._made.remove(name)

    def close(self) -> None:
        for name in [*self._made, *([self._template] if self._template else [])]:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()
        self._template = None


@contextmanager
def databases() -> Iterator[Databases]:
    made = Databases()
    try:
        yield made
    finally:
        made.close()
