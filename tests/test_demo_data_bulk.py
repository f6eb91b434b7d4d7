"""The bulk generator behind `gateway demo-data` and `make bench`: counts, integrity, proportions."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select

from gateway.db import utcnow
from gateway.demo_data import bulk_generate, generate, register_request, streets
from gateway.models import Dispatch, Executor, Request, RequestHistory
from gateway.reference_data import items_by_code
from gateway.statuses import RequestStatus
from gateway.sync.push import idempotency_key

UTILITIES = {"vodokanal", "teplotsentral", "ecospectrans"}


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_year_of_aged_requests_with_their_history_and_dispatches(sessions):
    now = utcnow()
    with sessions.begin() as session:
        result = bulk_generate(session, 1500, now=now, seed=3, spread=timedelta(days=365), life="aged")
    with sessions() as session:
        assert result.count == _count(session, Request) == 1500
        assert result.history_rows == _count(session, RequestHistory)
        assert result.dispatch_rows == _count(session, Dispatch) > 0
        requests = {r.id: r for r in session.scalars(select(Request))}
        assert sorted(requests) == sorted(result.request_ids)
        history: dict[int, list[RequestHistory]] = {}
        for row in session.scalars(select(RequestHistory).order_by(RequestHistory.at, RequestHistory.id)):
            history.setdefault(row.request_id, []).append(row)
        assert set(history) == set(requests)  # every history row belongs to a request, every request has one
        for request_id, rows in history.items():
            request = requests[request_id]
            assert (rows[0].old_value, rows[0].new_value, rows[0].at) == (None, "registered", request.registered_at)
            for before, after in pairwise(rows):
                assert after.old_value == before.new_value  # one unbroken chain of status changes
            assert rows[-1].new_value == request.status
            assert request.updated_at == rows[-1].at <= now
        integration = dict(session.execute(select(Executor.id, Executor.integration)).tuples().all())
        dispatched = session.scalars(select(Dispatch)).all()
        for dispatch in dispatched:
            request = requests[dispatch.request_id]
            assert integration[request.executor_id] == dispatch.provider
            assert dispatch.idempotency_key == idempotency_key(dispatch.provider, request.number)
            assert (dispatch.state, dispatch.reference) == ("sent", request.number)
        expected = {r.id for r in requests.values() if integration[r.executor_id] and r.status != "registered"}
        assert {d.request_id for d in dispatched} == expected
        statuses = Counter(r.status for r in requests.values())
        # a year back most requests are closed and confirmed, the last days' still open
        assert statuses[RequestStatus.CONFIRMED] > 0.5 * len(requests)
        assert statuses[RequestStatus.IN_PROGRESS] + statuses[RequestStatus.SENT] > 0
        assert {RequestStatus.FALSE_CALL, RequestStatus.DUPLICATE} <= set(statuses)


def test_spread_over_the_classifier_and_the_city_as_its_statistics_say(sessions):
    with sessions.begin() as session:
        bulk_generate(session, 3000, now=utcnow(), seed=5, life="open")
    with sessions() as session:
        requests = session.scalars(select(Request)).all()
        sections = Counter(r.item.section_code for r in requests)
        housing = (sections["3"] + sections["4"] + sections["32"]) / len(requests)
        assert 0.5 < housing < 0.62  # housing and communal services: over half (56 % asked)
        assert 0.83 < sum(r.channel == "phone" for r in requests) / len(requests) < 0.91  # 87 % by phone
        executors = Counter(r.executor_id for r in requests)
        assert len(executors) >= 8 and set(executors) >= UTILITIES  # each item goes to its default executor
        assert max(executors.values()) < 0.5 * len(requests)  # no executor takes everything
        items = Counter(r.classifier_item_id for r in requests)
        assert len(items) > 40
        assert len({r.street for r in requests}) == len(streets())  # every street of the city list
        assert all(r.deadline_at > r.registered_at for r in requests)
        assert all(r.status == RequestStatus.SENT for r in requests)  # "open": every one with its executor


def test_only_the_given_executors_and_numbers_continue_after_an_operator(sessions):
    now = utcnow()
    with sessions.begin() as session:
        items = items_by_code(session)
        first = register_request(session, item=items["3.1"], street="вул. Кобилянського", house="1",
                                 description="Немає води.", registered_at=now)
        # in the same transaction as the operator's request, as scripts/chaos.py does
        result = bulk_generate(session, 400, now=now, seed=9, spread=timedelta(minutes=30), executors=UTILITIES)
    with sessions() as session:
        numbers = session.scalars(select(Request.number).order_by(Request.id)).all()
        executors = set(session.scalars(select(Request.executor_id).where(Request.id.in_(result.request_ids))))
        assert _count(session, Dispatch) == 0  # "registered": nothing went anywhere yet
    assert executors == UTILITIES
    year = now.year
    assert numbers[0] == first.number == f"1520-{year}-000001"
    assert numbers[1:] == [f"1520-{year}-{n:06d}" for n in range(2, 402)]


def test_generate_keeps_its_seeded_requests_and_returns_them(sessions):
    now = utcnow()
    with sessions.begin() as session:
        made = generate(session, 50, now=now, seed=7)
        again = generate(session, 50, now=now, seed=7)
    assert len(made) == len(again) == 50
    assert [(r.classifier_item_id, r.street, r.house, r.flat, r.contact_phone, r.registered_at) for r in made] == \
        [(r.classifier_item_id, r.street, r.house, r.flat, r.contact_phone, r.registered_at) for r in again]
    assert len({r.number for r in made + again}) == 100
    with sessions() as session:
        assert _count(session, RequestHistory) == 100


def test_an_executor_set_serving_nothing_is_refused(sessions):
    with sessions.begin() as session, pytest.raises(ValueError, match="no classifier item is served"):
        bulk_generate(session, 10, now=utcnow(), executors={"nobody"})
