"""Helpers for tests of the sync engine: a context around the connector test double."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.connections import ConnectionConfig
from gateway.db import utcnow
from gateway.demo_data import register_request
from gateway.mapping import load_mapping
from gateway.models import ClassifierItem, Dispatch, Executor, Request
from gateway.reference_data import items_by_code
from gateway.registry import Manifest
from gateway.sync.context import SyncContext
from gateway.sync.retry import RetryPolicy
from tests.fakes import FakeConnector, FakeUtility, SoapLikeFakeConnector

DATA = Path(__file__).parent / "data"
FAST_RETRY = RetryPolicy(attempts=3, initial=0.001, maximum=0.01, sleep=lambda _s: None)


def fake_context(sessions: sessionmaker[Session], utility: FakeUtility | None = None, **options) -> SyncContext:
    with sessions() as session, session.begin():
        if session.get(Executor, "fake_exec") is None:
            session.add(Executor(id="fake_exec", name_uk="Тестовий виконавець", kind="test", integration="fakeutil"))
    manifest = Manifest(
        name="fakeutil", title="Тестова служба", executor="fake_exec", protocol="test",
        connector="tests.fakes:FakeConnector", conn_id="fake", mapping_file=DATA / "fake_mapping.yaml",
        path=Path(__file__), batch_size=options.pop("batch_size", 3),
    )
    utility = utility or FakeUtility()
    # A utility whose create is not idempotent gets a connector that says so, as teplotsentral's does.
    connector_class = FakeConnector if utility.idempotent else SoapLikeFakeConnector
    connector = connector_class(ConnectionConfig("fake", "http://fake.invalid"))
    connector.utility = utility
    mapping = load_mapping(manifest.mapping_file, utility_statuses=FakeConnector.statuses)
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("pending_interval", 0.0)
    return SyncContext(manifest=manifest, mapping=mapping, connector=connector, sessions=sessions, **options)


def register(sessions: sessionmaker[Session], code: str = "no-cold-water-building", *, street: str = "вул. Соборності",
             house: str = "14", at: datetime | None = None, executor: str = "fake_exec", **kw) -> str:
    """Register a request for an item, by its key (stable across classifier versions) or by its code in
    the current version."""
    with sessions() as session, session.begin():
        item = items_by_code(session).get(code) or session.scalars(
            select(ClassifierItem).where(ClassifierItem.key == code)).one()
        request = register_request(session, item=item, street=street, house=house, description=f"тест {code}",
                                   registered_at=at or utcnow(), executor_id=executor, **kw)
        return request.number


def request_by_number(session: Session, number: str) -> Request:
    return session.scalars(select(Request).where(Request.number == number)).one()


def dispatch_of(session: Session, number: str, provider: str = "fakeutil") -> Dispatch:
    return session.scalars(
        select(Dispatch).join(Request).where(Request.number == number, Dispatch.provider == provider)
    ).one()
