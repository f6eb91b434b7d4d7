"""Migrations from empty, on both backends, and the 2021 renumbering on a database full of requests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway.db import make_engine, session_factory, upgrade
from gateway.models import ClassifierItem, Request, UTCDateTime
from gateway.reference_data import code_of, current_version, items_by_code
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path):
    """An empty database (no migrations), on each backend."""
    if request.param == "postgresql":
        from tests import conftest

        name = f"gw_e_{conftest.RUN_ID}_{random.randrange(10**8)}"
        conftest._pg_admin(f'CREATE DATABASE "{name}"')
        yield conftest._pg_url(name)
        conftest._pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


def test_migrations_build_the_schema_and_reference_data_from_empty(empty_database_url):
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    tables = set(sa.inspect(engine).get_table_names())
    assert {"requests", "request_history", "announcements", "classifier_codes", "executors", "gw_dispatches",
            "gw_cursors", "gw_dead_letters", "gw_sync_runs", "gw_outbound_updates"} <= tables
    with session_factory(engine)() as session:
        assert current_version(session) == "2021-329"
        codes = items_by_code(session)
        assert len(codes) == 62 and codes["3.18"].key == "heat-carrier-leak"
        assert codes["32.1"].deadline_hours == 2
    upgrade(empty_database_url)  # a second upgrade is a no-op
    engine.dispose()


REQUESTS_AT_0002 = sa.table(
    "requests",
    *(sa.column(name) for name in ("number", "channel", "classifier_item_id", "street", "house", "description",
                                   "executor_id", "status")),
    *(sa.column(name, UTCDateTime()) for name in ("registered_at", "deadline_at", "updated_at")),
)


def test_the_2021_renumbering_keeps_every_request_on_its_item(empty_database_url):
    upgrade(empty_database_url, "0002_classifier_2020")
    engine = make_engine(empty_database_url)
    sessions = session_factory(engine)
    rng = random.Random(7)
    registered: dict[str, str] = {}  # request number -> item name at registration
    old_codes: dict[str, str] = {}
    with sessions.begin() as session:
        items = items_by_code(session, "2020-339")
        section3 = [c for c in items if c.startswith("3.")]
        for n in range(300):
            code = rng.choice(section3)
            at = datetime(2021, 7, 1, tzinfo=UTC) + timedelta(minutes=n)
            number = f"1520-2021-{n + 1:06d}"
            # the requests table as it was at this revision (the ORM model has later columns)
            session.execute(sa.insert(REQUESTS_AT_0002).values(
                number=number, registered_at=at, channel="phone", classifier_item_id=items[code].id,
                street="вул. Соборності", house=str(n % 50 + 1), description=f"заявка {n}",
                executor_id=items[code].default_executor_id, status="registered", deadline_at=at, updated_at=at))
            registered[number] = items[code].name_uk
            old_codes[number] = code
    upgrade(empty_database_url)
    with sessions() as session:
        for request in session.scalars(sa.select(Request)):
            old = old_codes[request.number]
            number = int(old.split(".")[1])
            expected = f"3.{number + 1}" if 18 <= number <= 27 else old
            assert code_of(session, request.classifier_item_id) == expected, request.number
            assert request.item.name_uk == registered[request.number]
        new_item = session.scalars(sa.select(ClassifierItem).where(ClassifierItem.key == "heat-carrier-leak")).one()
        assert session.scalar(sa.select(sa.func.count()).where(Request.classifier_item_id == new_item.id)) == 0
        assert code_of(session, new_item.id) == "3.18"
    engine.dispose()

