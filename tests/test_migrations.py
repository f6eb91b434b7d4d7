"""Migrations from empty, on both backends, and the 2021 renumbering on a database full of requests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway.classifier import default_classifier
from gateway.db import make_engine, session_factory, upgrade
from gateway.demo_data import register_request
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
    current = default_classifier().current
    with session_factory(engine)() as session:
        assert current_version(session) == current.version  # the newest the data files define
        assert len(items_by_code(session)) == len(current.items)
        codes = items_by_code(session, "2021-329")
        assert len(codes) == 62 and codes["3.18"].key == "heat-carrier-leak"
        assert codes["32.1"].deadline_hours == 2
    upgrade(empty_database_url)  # a second upgrade is a no-op
    engine.dispose()


# The requests table as migration 0002 left it: a request registered before 0008 has no registered code.
OLD_REQUESTS = sa.table(
    "requests", *(sa.column(name) for name in ("number", "channel", "classifier_item_id", "street", "house",
                                               "description", "executor_id", "status")),
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
        rows = []
        for n in range(300):
            code = rng.choice(section3)
            at = datetime(2021, 7, 1, tzinfo=UTC) + timedelta(minutes=n)
            number = f"1520-2021-{n + 1:06d}"
            rows.append({"number": number, "channel": "phone", "classifier_item_id": items[code].id,
                         "street": "вул. Соборності", "house": str(n % 50 + 1), "description": f"заявка {n}",
                         "executor_id": items[code].default_executor_id, "status": "registered",
                         "registered_at": at, "deadline_at": at + timedelta(days=1), "updated_at": at})
            registered[number] = items[code].name_uk
            old_codes[number] = code
        session.execute(sa.insert(OLD_REQUESTS), rows)
    upgrade(empty_database_url)
    with sessions() as session:
        for request in session.scalars(sa.select(Request)):
            old = old_codes[request.number]
            number = int(old.split(".")[1])
            expected = f"3.{number + 1}" if 18 <= number <= 27 else old
            assert code_of(session, request.classifier_item_id, "2021-329") == expected, request.number
            assert request.item.name_uk == registered[request.number]
            # registered before decision 2021 took effect: under the 2020 code, kept as it was
            assert (request.registered_code, request.registered_classifier_version) == (old, "2020-339")
        new_item = session.scalars(sa.select(ClassifierItem).where(ClassifierItem.key == "heat-carrier-leak")).one()
        assert session.scalar(sa.select(sa.func.count()).where(Request.classifier_item_id == new_item.id)) == 0
        assert code_of(session, new_item.id, "2021-329") == "3.18"
    engine.dispose()


def test_a_request_registered_now_records_its_code_and_version(database_url):
    engine = make_engine(database_url)
    with session_factory(engine).begin() as session:
        version = current_version(session)
        code, item = next(iter(items_by_code(session).items()))
        request = register_request(session, item=item, street="вул. Соборності", house="1", description="тест",
                                   registered_at=datetime.now(UTC))
        assert (request.registered_code, request.registered_classifier_version) == (code, version)
    engine.dispose()
