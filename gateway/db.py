"""Database access: one URL for the contact-centre database (PostgreSQL in production, SQLite for the
embedded demo) and small helpers that hide the dialect differences the engine cares about.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import ConfigError

DATABASE_URL_ENV = "GATEWAY_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


def database_url(url: str | None = None) -> str:
    url = url or os.environ.get(DATABASE_URL_ENV)
    if not url:
        raise ConfigError(f"no contact-centre database: set {DATABASE_URL_ENV} (e.g. sqlite:///.demo/contact_centre.db)")
    # Airflow's Connection.get_uri() writes the conn_type "postgres" as postgres://, which SQLAlchemy
    # no longer knows; both spellings get the psycopg 3 driver the gateway ships with.
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # hide_parameters: SQL echo and database errors must not print residents' data (phones, names)
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Create or upgrade the database with the Alembic migrations shipped in the package."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def alembic_config(url: str | None = None):  # -> alembic.config.Config
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config
