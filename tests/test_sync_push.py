"""Push with the connector test double: exactly one job per request, whatever fails where."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError
from gateway.models import DeadLetter, RequestHistory
from gateway.statuses import RequestStatus
from gateway.sync import states
from gateway.sync.engine import run_step
from gateway.sync.push import claim_batch, enqueue_new_requests, process_dispatch
from tests.fakes import FakeUtility, ScriptedFailure
from tests.sync_helpers import dispatch_of, fake_context, register, request_by_number


def test_each_new_request_becomes_one_job_and_is_marked_sent(sessions):
    ctx = fake_context(sessions)
    numbers = [register(sessions, "3.1", house=str(h)) for h in range(1, 8)]
    counts = run_step(ctx, "push_jobs")
    assert counts["created"] == 7
    assert sorted(d.reference for d in ctx.connector.utility.jobs.values()) == sorted(numbers)
    with sessions() as session:
        request = request_by_number(session, numbers[0])
        assert request.status == RequestStatus.SENT
        assert [h.actor for h in request.history] == ["operator:demo", "sync:fakeutil"]
        assert dispatch_of(session, numbers[0]).job_id in ctx.connector.utility.jobs
    assert run_step(ctx, "push_jobs").get("created", 0) == 0  # a second run sends nothing again


def test_only_mapped_resident_data_is_sent(sessions):
    ctx = fake_context(sessions)
    number = register(sessions, "3.1", flat="12", contact_phone="+380671234567", lat=47.9, lon=33.4)
    run_step(ctx, "push_jobs")
    (draft,) = [d for d in ctx.connector.utility.jobs.values() if d.reference == number]
    assert draft.flat == "12"  # the fake mapping sends the flat
    assert draft.contact_phone is None and draft.lat is None and draft.lon is None


def test_ambiguous_create_is_resolved_by_lookup_without_a_second_create(sessions):
    utility = FakeUtility(idempotent=False)  # like the SOAP utility: a second create would double
    utility.create_failures.append(ScriptedFailure(AmbiguousError("read timeout"), after_effect=True))
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    counts = run_step(ctx, "push_jobs")
    assert counts["resolved_by_lookup"] == 1
    assert utility.create_calls == 1
    assert len(utility.jobs_for(number)) == 1
    with sessions() as session:
        assert dispatch_of(session, number).state == states.SENT


def test_ambiguous_create_that_did_not_land_is_created_once_after_proof(sessions):
    utility = FakeUtility()  # idempotent: an empty lookup lets the create be repeated at once
    utility.create_failures.append(ScriptedFailure(AmbiguousError("connection dropped"), after_effect=False))
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    run_step(ctx, "push_jobs")
    assert utility.create_calls == 2 and len(utility.jobs_for(number)) == 1


def test_unsettled_lookup_leaves_the_dispatch_unknown_and_the_next_run_looks_up_first(sessions):
    utility = FakeUtility(idempotent=False)
    utility.create_failures.append(ScriptedFailure(AmbiguousError("read timeout"), after_effect=True))
    utility.lookup_failures.extend([RetriableError("down")] * 3)  # the whole retry budget of the lookup
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    assert run_step(ctx, "push_jobs")["unknown"] == 1
    with sessions() as session, session.begin():
        dispatch = dispatch_of(session, number)
        assert dispatch.state == states.UNKNOWN
        dispatch.next_attempt_at = dispatch.created_at  # due now
    run_step(ctx, "push_jobs")
    assert utility.create_calls == 1 and len(utility.jobs_for(number)) == 1
    with sessions() as session:
        assert dispatch_of(session, number).state == states.SENT


def test_crash_after_the_call_before_the_commit_is_recovered_by_lookup(sessions):
    utility = FakeUtility(idempotent=False)
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    counts: Counter[str] = Counter()
    enqueue_new_requests(ctx, counts)
    (dispatch_id,) = claim_batch(ctx, 10)
    # The utility has the job; the process dies (no exception handler runs) before recording it.
    utility.create_failures.append(ScriptedFailure(SystemExit("killed"), after_effect=True))
    with pytest.raises(SystemExit):
        process_dispatch(ctx, dispatch_id, Counter())
    with sessions() as session, session.begin():
        dispatch = dispatch_of(session, number)
        assert dispatch.state == states.IN_FLIGHT
        dispatch.lease_until = None  # the dead worker's lease has run out
    run_step(ctx, "push_jobs")
    assert utility.create_calls == 1 and len(utility.jobs_for(number)) == 1
    with sessions() as session:
        assert dispatch_of(session, number).state == states.SENT
    assert counts["enqueued"] == 1


def test_permanent_failure_is_dead_lettered_while_the_batch_goes_on(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    numbers = [register(sessions, house=str(h)) for h in range(1, 6)]
    utility.failures_by_reference[numbers[2]] = PermanentError("422: job_type LEAK not accepted for this address")
    counts = run_step(ctx, "push_jobs")
    assert counts["created"] == 4 and counts["dead_lettered"] == 1
    with sessions() as session:
        letter = session.scalars(select(DeadLetter)).one()
        assert letter.item_key == numbers[2] and letter.stream == "jobs" and letter.error_class == "permanent"
        assert "job_type LEAK" in letter.message
        assert dispatch_of(session, numbers[2]).state == states.DEAD
        assert request_by_number(session, numbers[2]).status == RequestStatus.REGISTERED  # not lost: visible
    assert {d.reference for d in utility.jobs.values()} == set(numbers) - {numbers[2]}


def test_retriable_failure_waits_with_backoff_and_is_not_lost(sessions):
    utility = FakeUtility()
    utility.create_failures.extend([ScriptedFailure(RetriableError("503"))] * 3)
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    assert run_step(ctx, "push_jobs")["retry_later"] == 1
    with sessions() as session, session.begin():
        dispatch = dispatch_of(session, number)
        assert dispatch.state == states.PENDING and dispatch.next_attempt_at > dispatch.created_at
        assert "retriable: 503" in dispatch.last_error
        dispatch.next_attempt_at = dispatch.created_at
    run_step(ctx, "push_jobs")
    assert len(utility.jobs_for(number)) == 1


def test_item_the_utility_does_not_serve_is_never_sent(sessions):
    ctx = fake_context(sessions)
    number = register(sessions, "4.1")  # waste, routed here by mistake; not in the fake mapping
    counts = run_step(ctx, "push_jobs")
    assert counts["unmapped"] == 1 and ctx.connector.utility.create_calls == 0
    with sessions() as session:
        letter = session.scalars(select(DeadLetter)).one()
        assert letter.item_key == number and "4.1" in letter.message and "fake_mapping.yaml" in letter.message


def test_fatal_error_stops_the_step_and_keeps_the_batch(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    numbers = [register(sessions, house=str(h)) for h in range(1, 3)]
    utility.create_failures.append(ScriptedFailure(FatalError("401: bad API key")))
    try:
        run_step(ctx, "push_jobs")
    except FatalError:
        pass
    else:
        raise AssertionError("a fatal error must fail the step")
    with sessions() as session:
        assert all(dispatch_of(session, n).lease_until is None for n in numbers)
    run_step(ctx, "push_jobs")
    assert sorted(d.reference for d in utility.jobs.values()) == sorted(numbers)


def test_history_records_the_sync_as_actor(sessions):
    ctx = fake_context(sessions)
    number = register(sessions)
    run_step(ctx, "push_jobs")
    with sessions() as session:
        rows = session.scalars(select(RequestHistory).join(RequestHistory.request)
                               .where(RequestHistory.actor == "sync:fakeutil")).all()
        assert [(r.field, r.old_value, r.new_value) for r in rows] == [("status", "registered", "sent_to_executor")]
        assert request_by_number(session, number).status == "sent_to_executor"


def _due_now(sessions, number: str) -> None:
    with sessions() as session, session.begin():
        dispatch = dispatch_of(session, number)  # time passes: the settle delay is over
        dispatch.next_attempt_at = dispatch.state_since = dispatch.created_at - timedelta(hours=1)


def test_without_idempotency_an_empty_lookup_right_after_a_timeout_is_no_proof(sessions):
    utility = FakeUtility(idempotent=False)
    utility.create_failures.append(ScriptedFailure(AmbiguousError("read timeout"), after_effect=False))
    ctx = fake_context(sessions, utility)
    assert ctx.connector.idempotent_create is False  # like the SOAP utility
    number = register(sessions)
    assert run_step(ctx, "push_jobs")["unknown"] == 1
    assert utility.create_calls == 1  # no second create in the same breath
    with sessions() as session:
        dispatch = dispatch_of(session, number)
        assert dispatch.state == states.UNKNOWN
        assert (dispatch.next_attempt_at - dispatch.updated_at).total_seconds() >= 60
    # meanwhile the slow first create commits at the utility after all
    ctx.connector.create_job(replace(utility_draft := _draft_of(sessions, ctx, number), idempotency_key="late"))
    _due_now(sessions, number)
    run_step(ctx, "push_jobs")
    assert len(utility.jobs_for(number)) == 1 and utility_draft.reference == number
    with sessions() as session:
        assert dispatch_of(session, number).state == states.SENT


def test_without_idempotency_a_later_empty_lookup_proves_absence_and_creates_once(sessions):
    utility = FakeUtility(idempotent=False)
    utility.create_failures.append(ScriptedFailure(AmbiguousError("read timeout"), after_effect=False))
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    run_step(ctx, "push_jobs")
    _due_now(sessions, number)
    run_step(ctx, "push_jobs")
    assert len(utility.jobs_for(number)) == 1


def test_a_refused_lookup_waits_for_a_later_lookup_and_does_not_stop_the_batch(sessions):
    utility = FakeUtility(idempotent=False)
    utility.create_failures.append(ScriptedFailure(AmbiguousError("read timeout"), after_effect=True))
    utility.lookup_failures.append(PermanentError("soap:Client VALIDATION"))
    ctx = fake_context(sessions, utility)
    first, second = register(sessions, house="1"), register(sessions, house="2")
    counts = run_step(ctx, "push_jobs")
    assert counts["unknown"] == 1 and len(utility.jobs_for(second)) == 1
    with sessions() as session:
        assert dispatch_of(session, first).state == states.UNKNOWN
        assert "lookup refused" in dispatch_of(session, first).last_error
    _due_now(sessions, first)
    run_step(ctx, "push_jobs")  # the lookup answers now: the job the first create made is found
    assert utility.create_calls == 2 and len(utility.jobs_for(first)) == 1
    with sessions() as session:
        assert dispatch_of(session, first).state == states.SENT


def test_lookups_refused_again_and_again_go_to_a_person_and_a_later_change_adopts_the_job(sessions):
    from gateway.sync.push import MAX_REFUSED_LOOKUPS

    utility = FakeUtility(idempotent=False)
    utility.create_failures.append(ScriptedFailure(AmbiguousError("read timeout"), after_effect=True))
    utility.lookup_failures.extend([PermanentError("soap:Client VALIDATION")] * 50)
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    for _ in range(MAX_REFUSED_LOOKUPS + 1):
        run_step(ctx, "push_jobs")
        _due_now(sessions, number)
    with sessions() as session:
        assert dispatch_of(session, number).state == states.DEAD
        assert "lookup refused" in session.scalars(select(DeadLetter)).one().message
    (job,) = utility.jobs_for(number)
    from tests.fakes import at

    utility.change(job, "WORKING", at(5))
    run_step(ctx, "pull_status_changes")
    with sessions() as session:
        dispatch = dispatch_of(session, number)
        assert dispatch.state == states.SENT and dispatch.job_id == job
        assert session.scalars(select(DeadLetter)).one().state == "resolved"


def _draft_of(sessions, ctx, number):
    from gateway.reference_data import code_of
    from gateway.sync.push import build_draft

    with sessions() as session:
        dispatch = dispatch_of(session, number)
        return build_draft(ctx, dispatch.request, dispatch, code_of(session, dispatch.request.classifier_item_id))
