"""The circuit breaker: closed -> open after consecutive failed calls -> half-open probe -> closed.

It counts calls (each retry is one), not steps: a step that called nothing changes nothing, and a
push that caught every failed create item by item still opens it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.db import utcnow
from gateway.errors import RetriableError
from gateway.models import CircuitBreaker, Dispatch
from gateway.sync.engine import run_step
from tests.fakes import FakeUtility, ScriptedFailure
from tests.sync_helpers import fake_context, register


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


def _breaker(sessions) -> CircuitBreaker:
    with sessions() as session:
        return session.get(CircuitBreaker, "fakeutil")


def test_open_half_open_closed_cycle(sessions):
    clock = Clock()
    ctx = fake_context(sessions, FakeUtility(), clock=clock)
    calls = []
    healthy = ctx.connector.fetch_changes

    def down(cursor, limit):
        calls.append(cursor)
        raise RetriableError("connection refused")

    ctx.connector.fetch_changes = down
    for _ in range(2):  # 3 calls each (FAST_RETRY): 6 failed calls in a row, 5 open it
        with pytest.raises(RetriableError):
            run_step(ctx, "pull_status_changes")
    assert _breaker(sessions).state == "open"
    calls.clear()
    assert run_step(ctx, "pull_status_changes") == {"circuit_open": 1}
    assert calls == []  # open: the utility is not called at all

    clock.now += ctx.breaker.probe_interval + timedelta(seconds=1)
    with pytest.raises(RetriableError):
        run_step(ctx, "pull_status_changes")  # the probe fails: open again, for another interval
    breaker = _breaker(sessions)
    assert breaker.state == "open" and breaker.next_probe_at > clock.now
    assert run_step(ctx, "pull_status_changes") == {"circuit_open": 1}

    clock.now += ctx.breaker.probe_interval + timedelta(seconds=1)
    ctx.connector.fetch_changes = healthy
    run_step(ctx, "pull_status_changes")  # the probe succeeds
    breaker = _breaker(sessions)
    assert breaker.state == "closed" and breaker.consecutive_failures == 0


def test_a_success_resets_the_count_of_failures(sessions):
    ctx = fake_context(sessions, FakeUtility())
    healthy = ctx.connector.fetch_changes
    ctx.connector.fetch_changes = lambda c, n: (_ for _ in ()).throw(RetriableError("503"))
    with pytest.raises(RetriableError):
        run_step(ctx, "pull_status_changes")
    ctx.connector.fetch_changes = healthy
    run_step(ctx, "pull_status_changes")
    ctx.connector.fetch_changes = lambda c, n: (_ for _ in ()).throw(RetriableError("503"))
    with pytest.raises(RetriableError):
        run_step(ctx, "pull_status_changes")
    breaker = _breaker(sessions)
    assert breaker.state == "closed" and breaker.consecutive_failures == 3  # 3 failed, 1 answered, 3 failed


def test_a_push_stops_early_when_the_utility_is_down_and_keeps_the_rest_queued(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility, batch_size=50)
    numbers = [register(sessions, house=str(h)) for h in range(1, 31)]
    utility.create_failures.extend([ScriptedFailure(RetriableError("connection refused"))] * 1000)
    with pytest.raises(RetriableError, match="looks unavailable"):
        run_step(ctx, "push_jobs")
    limit = ctx.breaker.item_failures_to_stop
    assert utility.create_calls == limit * ctx.retry.attempts  # not 30 requests' worth of retries
    with sessions() as session:
        dispatches = session.scalars(select(Dispatch)).all()
        assert len(dispatches) == len(numbers)
        assert all(d.lease_until is None for d in dispatches)
        assert sum(d.attempts > 0 for d in dispatches) == limit
    breaker = _breaker(sessions)
    assert breaker.state == "open" and breaker.consecutive_failures == limit * ctx.retry.attempts


def test_failed_creates_open_the_breaker_though_every_push_step_ends_normally(sessions):
    """Case 7: a utility down for 6 runs, every create failing (caught per item, the step "succeeds"),
    and a step with nothing to do in between: the breaker opens, and the next step calls nothing."""
    utility = FakeUtility()
    ctx = fake_context(sessions, utility, batch_size=50)
    clock = Clock()
    ctx.clock = clock
    utility.create_failures.extend([ScriptedFailure(RetriableError("connection refused"))] * 1000)
    for run in range(6):
        register(sessions, house=str(run + 1))
        run_step(ctx, "push_jobs")  # one item failing: caught, the step itself ends normally
        run_step(ctx, "push_updates")  # nothing to do: no call, no change
        clock.now += timedelta(hours=2)  # the failed dispatch is due again
        if _breaker(sessions).state == "open":
            break
    breaker = _breaker(sessions)
    assert breaker.state == "open", f"{utility.create_calls} failed calls, breaker {breaker.state}"
    calls = utility.create_calls
    clock.now = breaker.next_probe_at - timedelta(seconds=1)
    assert run_step(ctx, "push_jobs") == {"circuit_open": 1}
    assert utility.create_calls == calls


def test_a_step_that_calls_nothing_leaves_the_breaker_as_it_is(sessions):
    ctx = fake_context(sessions, FakeUtility())
    ctx.connector.fetch_changes = lambda c, n: (_ for _ in ()).throw(RetriableError("503"))
    with pytest.raises(RetriableError):
        run_step(ctx, "pull_status_changes")
    before = _breaker(sessions).consecutive_failures
    for _ in range(3):
        run_step(ctx, "push_updates")  # no outbox event: no call
    assert _breaker(sessions).consecutive_failures == before == 3
