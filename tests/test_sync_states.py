"""The dispatch state machine: every transition walked, every non-final state has a timeout and an
exit, and the engine drives real dispatches only through transitions the machine knows."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest

from gateway.db import utcnow
from gateway.errors import AmbiguousError, PermanentError, RetriableError
from gateway.sync import push, states
from gateway.sync.engine import run_step
from gateway.sync.states import FINAL, TIMEOUTS, TRANSITIONS, Event, IllegalTransition, State, next_state
from tests.fakes import FakeUtility, ScriptedFailure
from tests.sync_helpers import dispatch_of, fake_context, register


@pytest.mark.parametrize(("source", "event"), sorted(TRANSITIONS, key=str))
def test_every_transition_moves_a_dispatch_and_records_since_when(source, event):
    now = utcnow()
    dispatch = SimpleNamespace(state=source.value, state_since=now - timedelta(days=1), updated_at=None)
    states.move(dispatch, event, now)
    target = TRANSITIONS[(source, event)]
    assert dispatch.state == target and dispatch.updated_at == now
    assert dispatch.state_since == (now if target != source else now - timedelta(days=1))


def test_a_pair_the_machine_does_not_know_raises():
    unknown = [(s, e) for s in State for e in Event if (s, e) not in TRANSITIONS]
    assert unknown  # e.g. a sent dispatch cannot be created again
    for source, event in unknown:
        with pytest.raises(IllegalTransition, match=source.value):
            next_state(source, event)
    with pytest.raises(IllegalTransition):
        next_state("no-such-state", Event.CREATED)


def test_every_non_final_state_has_a_timeout_and_a_way_out_to_a_final_state():
    for state in State:
        if state in FINAL:
            continue
        timeout = TIMEOUTS[state]
        assert TRANSITIONS[(state, timeout.event)] == timeout.then
        # from anywhere, some path of events ends in a final state
        seen, frontier = {state}, [state]
        while frontier:
            current = frontier.pop()
            for (source, _event), target in TRANSITIONS.items():
                if source == current and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert seen & FINAL, f"{state} never ends"
    assert set(TIMEOUTS) == set(State) - FINAL


def test_every_state_is_reachable_from_a_new_dispatch():
    seen, frontier = {State.PENDING}, [State.PENDING]
    while frontier:
        current = frontier.pop()
        for (source, _event), target in TRANSITIONS.items():
            if source == current and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(State)


class Recorder:
    """Every (state, event) the engine applies to real dispatches."""

    def __init__(self, monkeypatch) -> None:
        self.used: Counter[tuple[State, Event]] = Counter()
        real = states.move

        def move(dispatch, event, now):
            self.used[(State(dispatch.state), event)] += 1
            real(dispatch, event, now)

        for module in ("gateway.sync.states", "gateway.sync.push", "gateway.sync.pull", "gateway.linking"):
            monkeypatch.setattr(f"{module}.move", move)


def test_the_engine_walks_the_transitions_of_a_create_through_the_machine(sessions, monkeypatch):
    """Real dispatches through the engine: created, refused, retriable, ambiguous then found,
    ambiguous then proven absent, asynchronous then resolved, closed before it was sent."""
    recorder = Recorder(monkeypatch)
    utility = FakeUtility(idempotent=False)
    ctx = fake_context(sessions, utility, batch_size=20)
    plain = register(sessions, house="1")
    refused = register(sessions, house="2")
    retried = register(sessions, house="3")
    found = register(sessions, house="4")
    absent = register(sessions, house="5")
    withdrawn = register(sessions, house="6")
    utility.failures_by_reference[refused] = PermanentError("422: unknown street")
    script = {retried: [ScriptedFailure(RetriableError("503"))] * ctx.retry.attempts,
              found: [ScriptedFailure(AmbiguousError("timeout"), after_effect=True)],
              absent: [ScriptedFailure(AmbiguousError("timeout"))]}
    real_create = ctx.connector.create_job

    def create(draft):
        failures = script.get(draft.reference)
        if failures:
            utility.create_failures.insert(0, failures.pop())
        return real_create(draft)

    ctx.connector.create_job = create
    push.enqueue_new_requests(ctx, Counter())
    from gateway.models import Request
    from gateway.statuses import RequestStatus
    from gateway.sync.bookkeeping import set_request_status
    from tests.sync_helpers import request_by_number

    with sessions() as session, session.begin():
        set_request_status(session, request_by_number(session, withdrawn), RequestStatus.WITHDRAWN,
                           actor="operator:olena")
        assert session.get(Request, request_by_number(session, withdrawn).id).status == "withdrawn"
    run_step(ctx, "push_jobs")
    with sessions() as session:
        assert dispatch_of(session, plain).state == states.SENT
        assert dispatch_of(session, refused).state == states.DEAD
        assert dispatch_of(session, retried).state == states.PENDING
        assert dispatch_of(session, found).state == states.SENT  # the lookup right after finds it
        assert dispatch_of(session, absent).state == states.UNKNOWN  # not idempotent: no proof yet
        assert dispatch_of(session, withdrawn).state == states.CANCELLED
    with sessions() as session, session.begin():
        for number in (retried, absent):
            d = dispatch_of(session, number)
            d.next_attempt_at = d.state_since = d.created_at - timedelta(hours=1)
    run_step(ctx, "push_jobs")
    with sessions() as session:
        assert dispatch_of(session, retried).state == states.SENT
        assert dispatch_of(session, absent).state == states.SENT
    assert all(len(utility.jobs_for(n)) == 1 for n in (plain, retried, found, absent))
    assert not utility.jobs_for(withdrawn) and not utility.jobs_for(refused)
    used = set(recorder.used)
    assert {
        (State.PENDING, Event.START_CREATE), (State.IN_FLIGHT, Event.CREATED), (State.IN_FLIGHT, Event.REFUSED),
        (State.IN_FLIGHT, Event.FAILED_RETRIABLE), (State.IN_FLIGHT, Event.AMBIGUOUS), (State.UNKNOWN, Event.FOUND),
        (State.UNKNOWN, Event.LOOKUP_FAILED), (State.UNKNOWN, Event.ABSENT),
        (State.PENDING, Event.CLOSED_BY_CONTACT_CENTRE),
    } <= used, used
    assert used <= set(TRANSITIONS)
