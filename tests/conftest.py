"""Shared fixtures: a migrated contact-centre database per test, on PostgreSQL and on SQLite.

PostgreSQL: one template database is migrated per test run and each test gets its own copy
(CREATE DATABASE ... TEMPLATE), dropped afterwards. SQLite: one migrated file copied per test.
GATEWAY_TEST_PG_URL points at the server (default: postgres on 127.0.0.1:5432, trust auth);
GATEWAY_TEST_BACKENDS=sqlite limits a local run to SQLite (CI runs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Airflow's home and metadata database live in an ignored folder of the project, never in ~/airflow.
# Each xdist worker gets its own, as Airflow's SQLite metadata database takes one writer at a time.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".test-state" / f"airflow-{_WORKER}"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))

import psycopg  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from gateway.db import make_engine, session_factory, upgrade  # noqa: E402

PG_ADMIN_URL = os.environ.get("GATEWAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("GATEWAY_TEST_BACKENDS", "postgresql,sqlite").split(",") if b.strip()]
RUN_ID = uuid.uuid4().hex[:8]


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"gw_tpl_{RUN_ID}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    upgrade(_pg_url(name))
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def fresh_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "postgresql":
        template = request.getfixturevalue("pg_template")
        name = f"gw_t_{RUN_ID}_{uuid.uuid4().hex[:8]}"
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield _pg_url(name)
        finally:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path / "contact_centre.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated contact-centre database of its own, on each backend."""
    yield from fresh_database_url(request.param, request, tmp_path)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine):
    return session_factory(engine)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated contact-centre database on PostgreSQL only (for what runs on PostgreSQL in production)."""
    yield from fresh_database_url("postgresql", request, tmp_path)


@pytest.fixture(scope="session")
def airflow_home() -> str:
    """This worker's Airflow metadata database (in the ignored .test-state folder), migrated once per run."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return os.environ["AIRFLOW_HOME"]
