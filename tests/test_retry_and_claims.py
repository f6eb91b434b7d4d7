"""Retries honour Retry-After and stay bounded; parallel workers never claim the same dispatch."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from gateway.errors import AmbiguousError, PermanentError, RetriableError
from gateway.models import Dispatch
from gateway.sync.push import claim_batch, enqueue_new_requests
from gateway.sync.retry import RetryPolicy, call_with_retry
from tests.sync_helpers import fake_context, register


def _policy(sleeps: list[float], **kw) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, **kw)


def test_retry_after_is_waited_exactly_and_backoff_is_jittered_and_capped():
    sleeps: list[float] = []
    outcomes = iter([RetriableError("429", retry_after=2.5), RetriableError("503"), "ok"])

    def call():
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    assert call_with_retry(call, _policy(sleeps, attempts=4, initial=1.0, maximum=1.5)) == "ok"
    assert sleeps[0] == 2.5
    assert 0 <= sleeps[1] <= 1.5


def test_retries_are_bounded_and_reraise_the_last_error():
    sleeps: list[float] = []
    calls = []

    def down():
        calls.append(1)
        raise RetriableError("connection refused")

    with pytest.raises(RetriableError, match="refused"):
        call_with_retry(down, _policy(sleeps, attempts=3, initial=0.01))
    assert len(calls) == 3 and len(sleeps) == 2


def test_a_retry_after_longer_than_a_run_should_wait_ends_the_retries():
    calls = []

    def throttled():
        calls.append(1)
        raise RetriableError("429", retry_after=3600)

    with pytest.raises(RetriableError):
        call_with_retry(throttled, _policy([], attempts=5, max_retry_after=60))
    assert len(calls) == 1


def test_permanent_and_ambiguous_errors_are_not_retried_blindly():
    for error in (PermanentError("422"), AmbiguousError("read timeout")):
        calls: list[int] = []

        def fails(error=error, calls=calls):
            calls.append(1)
            raise error

        with pytest.raises(type(error)):
            call_with_retry(fails, _policy([], attempts=5))
        assert len(calls) == 1


def test_parallel_claims_are_disjoint(sessions):
    ctx = fake_context(sessions, batch_size=5)
    for house in range(40):
        register(sessions, house=str(house + 1))
    enqueue_new_requests(ctx, Counter())
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        mine = []
        while batch := claim_batch(ctx, 5):
            mine.extend(batch)
        claimed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [d for mine in claimed for d in mine]
    assert len(everything) == len(set(everything)) == 40
    with sessions() as session:
        assert all(d.lease_until is not None for d in session.scalars(select(Dispatch)))
