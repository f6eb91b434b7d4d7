"""Pull with the connector test double: in order per job, exactly once, cursor with its changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.connector import RejectedItem, StatusChange
from gateway.errors import RetriableError
from gateway.models import Cursor, DeadLetter, RequestHistory
from gateway.statuses import RequestStatus
from gateway.sync import pull
from gateway.sync.bookkeeping import get_cursor, set_request_status
from gateway.sync.engine import run_step
from tests.fakes import FakeUtility
from tests.sync_helpers import dispatch_of, fake_context, register, request_by_number

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _sent(sessions, utility: FakeUtility, count: int = 1, **ctx_options):
    ctx = fake_context(sessions, utility, **ctx_options)
    numbers = [register(sessions, house=str(h + 1)) for h in range(count)]
    run_step(ctx, "push_jobs")
    with sessions() as session:
        jobs = [dispatch_of(session, n).job_id for n in numbers]
    return ctx, numbers, jobs


def _status_history(sessions, number: str) -> list[str]:
    with sessions() as session:
        return [h.new_value for h in request_by_number(session, number).history if h.field == "status"]


def test_changes_come_back_in_order_into_the_request_history(sessions):
    utility = FakeUtility()
    ctx, (number,), (job,) = _sent(sessions, utility)
    utility.change(job, "WORKING", T0 + timedelta(minutes=5))
    utility.change(job, "DONE", T0 + timedelta(minutes=50), comment="замінено засувку")
    counts = run_step(ctx, "pull_status_changes")
    assert counts["applied"] == 2
    assert _status_history(sessions, number) == ["registered", "sent_to_executor", "in_progress", "done"]
    with sessions() as session:
        last = request_by_number(session, number).history[-1]
        assert last.actor == "sync:fakeutil" and "замінено засувку" in last.note


def test_an_older_change_never_overwrites_a_newer_one(sessions):
    utility = FakeUtility()
    ctx, (number,), (job,) = _sent(sessions, utility, batch_size=1)
    utility.change(job, "DONE", T0 + timedelta(minutes=50))  # the feed delivers DONE first ...
    utility.change(job, "WORKING", T0 + timedelta(minutes=5))  # ... and the older change later, on page 2
    counts = run_step(ctx, "pull_status_changes")
    assert counts["stale_or_repeated"] == 1
    with sessions() as session:
        assert request_by_number(session, number).status == RequestStatus.DONE


def test_within_a_page_changes_are_applied_in_time_order(sessions):
    utility = FakeUtility()
    ctx, (number,), (job,) = _sent(sessions, utility, batch_size=10)
    utility.change(job, "DONE", T0 + timedelta(minutes=50))
    utility.change(job, "WORKING", T0 + timedelta(minutes=5))
    run_step(ctx, "pull_status_changes")
    assert _status_history(sessions, number)[-2:] == ["in_progress", "done"]


def test_a_repeated_change_is_applied_once(sessions):
    utility = FakeUtility()
    ctx, (number,), (job,) = _sent(sessions, utility)
    change = utility.change(job, "WORKING", T0)
    utility.changes.append(change)  # the same change delivered twice (overlapping windows)
    run_step(ctx, "pull_status_changes")
    assert _status_history(sessions, number).count("in_progress") == 1


def test_the_cursor_is_committed_with_the_changes_it_covers(sessions, monkeypatch):
    utility = FakeUtility()
    ctx, numbers, jobs = _sent(sessions, utility, count=3, batch_size=2)
    utility.change(jobs[0], "WORKING", T0)
    utility.change(jobs[1], "WORKING", T0)
    utility.change(jobs[2], "WORKING", T0 + timedelta(hours=1))
    utility.change(jobs[2], "DONE", T0 + timedelta(hours=2))
    real_apply, applied = pull.apply_change, []

    def dies_mid_page_two(session, ctx_, change, counts):
        applied.append(change.change_id)
        real_apply(session, ctx_, change, counts)
        if change.change_id == "3":
            raise RuntimeError("worker killed mid-page")

    monkeypatch.setattr(pull, "apply_change", dies_mid_page_two)
    with pytest.raises(RuntimeError, match="killed"):
        run_step(ctx, "pull_status_changes")
    assert applied == ["1", "2", "3"]
    with sessions() as session:
        assert get_cursor(session, "fakeutil", "status_changes") == "2"  # page 1 and its cursor, together
        assert request_by_number(session, numbers[1]).status == RequestStatus.IN_PROGRESS
        assert request_by_number(session, numbers[2]).status == RequestStatus.SENT  # page 2: neither
    monkeypatch.setattr(pull, "apply_change", real_apply)
    run_step(ctx, "pull_status_changes")
    assert _status_history(sessions, numbers[0]).count("in_progress") == 1  # page 1 not applied again
    with sessions() as session:
        assert request_by_number(session, numbers[2]).status == RequestStatus.DONE


def test_a_failed_fetch_keeps_the_cursor_and_the_next_run_resumes(sessions):
    utility = FakeUtility()
    ctx, numbers, jobs = _sent(sessions, utility, count=2, batch_size=1)
    utility.change(jobs[0], "WORKING", T0)
    utility.change(jobs[1], "WORKING", T0)
    original = ctx.connector.fetch_changes
    calls = []

    def flaky(cursor, limit):
        calls.append(cursor)
        if cursor == "1":
            raise RetriableError("503 from the utility")
        return original(cursor, limit)

    ctx.connector.fetch_changes = flaky
    with pytest.raises(RetriableError):
        run_step(ctx, "pull_status_changes")
    with sessions() as session:
        assert session.get(Cursor, ("fakeutil", "status_changes")).value == "1"
    ctx.connector.fetch_changes = original
    run_step(ctx, "pull_status_changes")
    for number in numbers:
        assert _status_history(sessions, number).count("in_progress") == 1


def test_unmapped_status_and_unreadable_item_are_dead_lettered_and_the_rest_goes_on(sessions):
    utility = FakeUtility()
    ctx, numbers, jobs = _sent(sessions, utility, count=2, batch_size=10)
    utility.change(jobs[0], "MYSTERY", T0)
    utility.rejects_in_feed.append((1, RejectedItem(key="seq 7", error="changed_at missing", payload={"seq": 7})))
    utility.changes.append(StatusChange(change_id="naive", job_id=jobs[1], status="DONE",
                                        changed_at=datetime(2026, 11, 20, 9, 0)))
    utility.change(jobs[1], "WORKING", T0)
    counts = run_step(ctx, "pull_status_changes")
    assert counts["dead_lettered"] == 1 and counts["rejected"] == 2 and counts["applied"] == 1
    with sessions() as session:
        letters = {d.error_class: d for d in session.scalars(select(DeadLetter))}
        assert "'MYSTERY' is not mapped" in letters["permanent"].message
        assert "fake_mapping.yaml" in letters["permanent"].message
        malformed = session.scalars(select(DeadLetter.item_key).where(DeadLetter.error_class == "malformed")).all()
        assert sorted(malformed) == ["naive", "seq 7"]
        assert request_by_number(session, numbers[1]).status == RequestStatus.IN_PROGRESS
        assert get_cursor(session, "fakeutil", "status_changes") == "3"


def test_contact_centre_closure_is_not_reopened_by_a_late_utility_change(sessions):
    utility = FakeUtility()
    ctx, (number,), (job,) = _sent(sessions, utility)
    with sessions() as session, session.begin():
        set_request_status(session, request_by_number(session, number), RequestStatus.WITHDRAWN,
                           actor="operator:olena")
    utility.change(job, "WORKING", T0)
    counts = run_step(ctx, "pull_status_changes")
    assert counts["after_close"] == 1
    with sessions() as session:
        request = request_by_number(session, number)
        assert request.status == RequestStatus.WITHDRAWN
        assert request.history[-1].field == "executor_status"


def test_a_job_the_gateway_did_not_create_is_ignored(sessions):
    utility = FakeUtility()
    ctx, _, _ = _sent(sessions, utility)
    utility.jobs["X1"] = next(iter(utility.jobs.values())).__class__(**{
        **next(iter(utility.jobs.values())).__dict__, "reference": "someone-else"})
    utility.change("X1", "DONE", T0)
    assert run_step(ctx, "pull_status_changes")["not_ours"] == 1
    with sessions() as session:
        assert session.scalars(select(RequestHistory).where(RequestHistory.new_value == "done")).first() is None


def test_change_for_a_job_whose_create_reply_was_lost_adopts_it(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    from collections import Counter

    from gateway.sync.push import claim_batch, enqueue_new_requests, process_dispatch
    from tests.fakes import ScriptedFailure

    enqueue_new_requests(ctx, Counter())
    (dispatch_id,) = claim_batch(ctx, 1)
    utility.create_failures.append(ScriptedFailure(SystemExit("killed"), after_effect=True))
    with pytest.raises(SystemExit):  # reply "lost": never recorded
        process_dispatch(ctx, dispatch_id, Counter())
    (job,) = utility.jobs_for(number)
    utility.change(job, "WORKING", T0)
    run_step(ctx, "pull_status_changes")
    with sessions() as session:
        dispatch = dispatch_of(session, number)
        assert dispatch.job_id == job and dispatch.state == "sent"
        assert request_by_number(session, number).status == RequestStatus.IN_PROGRESS
