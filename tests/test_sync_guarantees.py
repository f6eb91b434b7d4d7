"""Never lost, never doubled: the cases a careful reviewer broke the engine with (issue 10), each on
PostgreSQL and SQLite, with real concurrent threads where the case needs them."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from gateway.db import utcnow
from gateway.models import DeadLetter, Dispatch, OutboundUpdate
from gateway.statuses import RequestStatus
from gateway.sync import push, states
from gateway.sync.bookkeeping import add_history, set_request_status
from gateway.sync.engine import run_step
from tests.fakes import FakeUtility, at
from tests.sync_helpers import dispatch_of, fake_context, register, request_by_number


class Clock:
    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def __call__(self):
        return utcnow() + self.offset


def _backend(sessions) -> str:
    return sessions.kw["bind"].dialect.name


# --- case 1: overlapping runs at a non-idempotent utility -------------------------------------------


def _frozen_create(utility: FakeUtility):
    """A create that reaches the utility and hangs there (a slow SOAP call, a frozen worker) until
    the test lets it commit."""
    entered, release = threading.Event(), threading.Event()

    def gate(_draft):
        if not entered.is_set():
            entered.set()
            assert release.wait(60), "the test never released the frozen create"

    utility.create_gate = gate
    return entered, release


def test_a_worker_that_lost_its_claim_mid_create_never_causes_a_second_job(sessions):
    """Case 1: worker A's create hangs past its lease; worker B (another process, or Airflow's retry
    of a task it gave up on) claims the in-flight dispatch. B must not create (the settle rule holds
    on this path too), and A's late answer must not overwrite what B wrote."""
    utility = FakeUtility(idempotent=False)
    worker_a = fake_context(sessions, utility, clock=Clock())
    worker_b = fake_context(sessions, utility, clock=Clock(timedelta(minutes=30)))  # A's lease is over
    number = register(sessions)
    entered, release = _frozen_create(utility)
    errors: list[BaseException] = []

    def run_a():
        try:
            push.push_new_requests(worker_a, Counter())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_a)
    thread.start()
    assert entered.wait(30)
    counts_b: Counter[str] = Counter()
    push.push_new_requests(worker_b, counts_b)  # the lock was lost (a frozen worker): the claim decides
    release.set()
    thread.join(60)
    assert not errors, errors
    assert len(utility.jobs_for(number)) == 1, utility.jobs_for(number)
    with sessions() as session:
        dispatch = dispatch_of(session, number)
        assert dispatch.state in (states.UNKNOWN, states.SENT)
        if dispatch.state == states.UNKNOWN:  # B's later lookup, past the settle time, finds A's job
            dispatch_id = dispatch.id
    if dispatch.state == states.UNKNOWN:
        later = fake_context(sessions, utility, clock=Clock(timedelta(hours=3)))
        run_step(later, "push_jobs")
        with sessions() as session:
            assert session.get(Dispatch, dispatch_id).state == states.SENT
    (job,) = utility.jobs_for(number)
    with sessions() as session:
        assert dispatch_of(session, number).job_id == job


def test_a_second_runner_of_the_same_step_says_so_and_leaves(sessions):
    """Case 1, the usual way it happens: `gateway sync` by hand while the DAG's task runs."""
    utility = FakeUtility(idempotent=False)
    worker_a = fake_context(sessions, utility)
    by_hand = fake_context(sessions, utility, clock=Clock(timedelta(minutes=30)))
    number = register(sessions)
    entered, release = _frozen_create(utility)
    results: list[dict] = []
    thread = threading.Thread(target=lambda: results.append(run_step(worker_a, "push_jobs")))
    thread.start()
    try:
        assert entered.wait(30)
        if _backend(sessions) == "postgresql":
            assert run_step(by_hand, "push_jobs") == {"busy": 1}
        else:  # SQLite: the lock row's lease; within it, the second runner is turned away too
            by_hand.clock = Clock()
            assert run_step(by_hand, "push_jobs") == {"busy": 1}
    finally:
        release.set()
        thread.join(60)
    assert results and results[0]["created"] == 1
    assert len(utility.jobs_for(number)) == 1 and utility.create_calls == 1


# --- cases 2 and 3: awaiting tickets ----------------------------------------------------------------


def test_a_full_batch_of_awaiting_tickets_does_not_starve_new_requests(sessions):
    """Case 2: the oldest dispatches wait for asynchronous tickets that are slow to appear; newer
    requests still get their attempt in the same run."""
    utility = FakeUtility(asynchronous=True)
    ctx = fake_context(sessions, utility, batch_size=3, pending_rounds=1)
    real_resolve = ctx.connector.resolve_pending

    def resolve(token):
        if utility.resolve_calls > 60:  # a run that only polls the same tickets would go on for ever
            raise RuntimeError("the run only polls the same awaiting tickets")
        return real_resolve(token)

    ctx.connector.resolve_pending = resolve
    waiting = [register(sessions, house=str(h)) for h in range(1, 4)]
    run_step(ctx, "push_jobs")
    assert len(utility.pending) == 3
    fresh = [register(sessions, house=str(h)) for h in range(10, 13)]
    run_step(ctx, "push_jobs")
    created = {d.reference for d in utility.pending.values()}
    assert set(fresh) <= created, f"new requests got no attempt: {sorted(set(fresh) - created)}"
    assert set(waiting) <= created


def test_an_awaiting_ticket_that_never_appears_is_found_by_reference_or_dead_lettered(sessions):
    """Case 3: by-token 404 for ever. After its timeout the dispatch is looked up by our reference:
    the ticket found there is adopted; with none, a dead letter says why."""
    utility = FakeUtility(asynchronous=True)
    ctx = fake_context(sessions, utility, batch_size=10, pending_rounds=1)
    exists, never = register(sessions, house="1"), register(sessions, house="2")
    run_step(ctx, "push_jobs")
    tokens = {draft.reference: token for token, draft in utility.pending.items()}
    # the utility created one ticket but forgot its token; the other submission vanished
    utility.jobs["J900"] = utility.pending.pop(tokens[exists])
    utility.pending.pop(tokens[never])
    clock = Clock()
    ctx.clock = clock
    for _ in range(states.AWAITING_POLLS + 2):
        clock.offset += timedelta(minutes=15)
        run_step(ctx, "push_jobs")
    with sessions() as session:
        found = dispatch_of(session, exists)
        assert found.state == states.SENT and found.job_id == "J900"
        gone = dispatch_of(session, never)
        assert gone.state == states.DEAD
        letter = session.scalars(select(DeadLetter).where(DeadLetter.item_key == never)).one()
        assert "no job appeared" in letter.message and never in letter.message


# --- case 4: contact-centre events ------------------------------------------------------------------


def test_an_event_committed_after_a_later_one_is_delivered(sessions, database_url):
    """Case 4: ids are handed out at INSERT, not at COMMIT. A history row with a lower id that commits
    after a higher one was read must still reach the utility (PostgreSQL: truly concurrent
    transactions; SQLite takes one writer at a time, so there the second waits)."""
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    first, second = register(sessions, house="1"), register(sessions, house="2")
    run_step(ctx, "push_jobs")
    if _backend(sessions) != "postgresql":
        pytest.skip("SQLite serialises writers: no interleaving to reproduce")
    slow = sessions()
    slow.begin()
    add_history(slow, request_by_number(slow, first), actor="resident", field="details", old=None,
                new="під'їзд 2")
    slow.flush()  # the row has its id now, and is not committed
    with sessions() as session, session.begin():
        add_history(session, request_by_number(session, second), actor="resident", field="details", old=None,
                    new="код 45")
    run_step(ctx, "push_updates")
    slow.commit()
    slow.close()
    run_step(ctx, "push_updates")
    texts = sorted(u.text for _, u in utility.updates)
    assert texts == ["код 45", "під'їзд 2"]


def test_a_closure_committed_while_a_sync_holds_the_request_is_not_written_over(sessions):
    """Case 6 under interleaving (found by make chaos): the sync has read the request as open, the
    operator's closure commits meanwhile, then the sync writes its status. The write must not land on
    the closure (a lost update under READ COMMITTED); the closure stays, the sync's status does not."""
    fake_context(sessions, FakeUtility())
    number = register(sessions)
    if _backend(sessions) != "postgresql":
        pytest.skip("SQLite serialises writers: no interleaving to reproduce")
    sync = sessions()
    sync.begin()
    request = request_by_number(sync, number)
    assert request.status == RequestStatus.REGISTERED  # read as open
    with sessions() as operator, operator.begin():
        set_request_status(operator, request_by_number(operator, number), RequestStatus.WITHDRAWN,
                           actor="operator:test", note="the resident withdrew it")
    changed = set_request_status(sync, request, RequestStatus.SENT, actor="sync:fakeutil", note="job J1")
    sync.commit()
    sync.close()
    assert changed is False
    with sessions() as session:
        assert request_by_number(session, number).status == RequestStatus.WITHDRAWN


def test_an_event_for_a_request_without_a_job_yet_waits_for_the_job(sessions):
    """Case 4: details added before the request was ever pushed reach the job once it exists."""
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    with sessions() as session, session.begin():
        add_history(session, request_by_number(session, number), actor="resident", field="details", old=None,
                    new="вхід з двору")
    run_step(ctx, "push_updates")
    assert utility.updates == []
    run_step(ctx, "push_jobs")
    run_step(ctx, "push_updates")
    (job,) = utility.jobs_for(number)
    assert [(j, u.kind, u.text) for j, u in utility.updates] == [(job, "details", "вхід з двору")]


def test_events_of_one_job_arrive_in_order_and_each_once(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    run_step(ctx, "push_jobs")
    with sessions() as session, session.begin():
        request = request_by_number(session, number)
        add_history(session, request, actor="resident", field="details", old=None, new="перше")
        set_request_status(session, request, RequestStatus.REWORK, actor="operator:olena", note="друге")
        add_history(session, request, actor="resident", field="details", old=None, new="третє")
    run_step(ctx, "push_updates")
    run_step(ctx, "push_updates")
    assert [u.text for _, u in utility.updates] == ["перше", "друге", "третє"]
    with sessions() as session:
        assert {u.state for u in session.scalars(select(OutboundUpdate))} == {"sent"}


# --- case 5: linked requests ------------------------------------------------------------------------


def _master_and_linked(sessions, utility):
    ctx = fake_context(sessions, utility)
    master = register(sessions, house="7", at=utcnow() - timedelta(hours=2))
    run_step(ctx, "push_jobs")
    linked = register(sessions, house="7", at=utcnow() - timedelta(hours=1))
    run_step(ctx, "push_jobs")
    with sessions() as session:
        assert dispatch_of(session, linked).state == states.LINKED
    return ctx, master, linked


def test_a_linked_request_is_not_closed_by_the_withdrawal_of_the_one_it_joined(sessions):
    """Case 5: A is withdrawn, the utility cancels A's job (CANCELLED -> withdrawn); B, linked to A,
    is not withdrawn with it: it is released and becomes a job of its own."""
    utility = FakeUtility()
    ctx, master, linked = _master_and_linked(sessions, utility)
    with sessions() as session, session.begin():
        set_request_status(session, request_by_number(session, master), RequestStatus.WITHDRAWN,
                           actor="operator:olena", note="вирішено самостійно")
    (job,) = utility.jobs_for(master)
    utility.change(job, "CANCELLED", at(5))
    run_step(ctx, "pull_status_changes")
    run_step(ctx, "push_jobs")
    with sessions() as session:
        request = request_by_number(session, linked)
        assert request.status != RequestStatus.WITHDRAWN
        assert dispatch_of(session, linked).state == states.SENT
        notes = [h.note or "" for h in request.history if h.field == "link"]
        assert any("without doing this request's work" in n for n in notes), notes
    assert len(utility.jobs_for(linked)) == 1


def test_a_dead_master_releases_its_linked_requests(sessions):
    """Case 5: the job B joined is refused for good; B does not wait for ever."""
    from gateway.errors import PermanentError

    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    master = register(sessions, house="7", at=utcnow() - timedelta(hours=2))
    linked = register(sessions, house="7", at=utcnow() - timedelta(hours=1))
    utility.failures_by_reference[master] = PermanentError("422: refused")
    run_step(ctx, "push_jobs")  # B links to A while A is still pending; then A is refused
    with sessions() as session:
        assert dispatch_of(session, master).state == states.DEAD
    run_step(ctx, "push_jobs")
    with sessions() as session:
        assert dispatch_of(session, linked).state == states.SENT
    assert len(utility.jobs_for(linked)) == 1


# --- case 6: contact-centre closures ----------------------------------------------------------------


def test_a_contact_centre_closure_reaches_the_utility_and_is_never_undone(sessions):
    """Case 6: the contact centre closes a sent request as a duplicate. The utility is told, and its
    next change is kept as a comment, not a reopening."""
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    run_step(ctx, "push_jobs")
    (job,) = utility.jobs_for(number)
    with sessions() as session, session.begin():
        set_request_status(session, request_by_number(session, number), RequestStatus.DUPLICATE,
                           actor="operator:olena", note="дублікат заявки 1520-2026-000777")
    run_step(ctx, "push_updates")
    utility.change(job, "WORKING", at(10))
    run_step(ctx, "pull_status_changes")
    with sessions() as session:
        request = request_by_number(session, number)
        assert request.status == RequestStatus.DUPLICATE
        assert request.history[-1].field == "executor_status"
    (sent,) = [(j, u) for j, u in utility.updates]
    assert sent[0] == job and sent[1].kind == "closed"
    assert "дублікат" in sent[1].text


# --- also seen --------------------------------------------------------------------------------------


def test_a_request_withdrawn_while_its_dispatch_is_pending_is_never_created(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    push.enqueue_new_requests(ctx, Counter())
    with sessions() as session, session.begin():
        set_request_status(session, request_by_number(session, number), RequestStatus.WITHDRAWN,
                           actor="operator:olena")
    run_step(ctx, "push_jobs")
    run_step(ctx, "push_updates")
    assert utility.jobs_for(number) == [] and utility.updates == []
    with sessions() as session:
        assert dispatch_of(session, number).state == states.CANCELLED


def test_a_sent_job_deleted_at_the_utility_goes_to_a_person(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    run_step(ctx, "push_jobs")
    (job,) = utility.jobs_for(number)
    del utility.jobs[job]
    run_step(ctx, "pull_status_changes")  # just sent: not looked up again yet
    with sessions() as session:
        assert dispatch_of(session, number).state == states.SENT
    ctx.clock = Clock(timedelta(days=2))
    run_step(ctx, "pull_status_changes")
    with sessions() as session:
        assert dispatch_of(session, number).state == states.DEAD
        letter = session.scalars(select(DeadLetter).where(DeadLetter.item_key == number)).one()
        assert job in letter.message
        assert any(h.new_value == "vanished" for h in request_by_number(session, number).history)


def test_where_the_feed_has_a_sequence_it_orders_a_jobs_changes(sessions):
    """A backdated change with a higher sequence is the newer one (vodokanal's feed)."""
    from connectors.vodokanal.connector import VodokanalConnector
    from gateway.connector import StatusChange

    assert VodokanalConnector.feed_sequenced is True
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    ctx.connector.feed_sequenced = True
    number = register(sessions)
    run_step(ctx, "push_jobs")
    (job,) = utility.jobs_for(number)
    utility.change(job, "WORKING", at(10))
    run_step(ctx, "pull_status_changes")
    utility.changes.append(StatusChange(change_id="2", job_id=job, status="DONE", changed_at=at(9), position=2,
                                        reference=number))
    run_step(ctx, "pull_status_changes")
    with sessions() as session:
        assert request_by_number(session, number).status == RequestStatus.DONE


# --- case 8: linear enqueue -------------------------------------------------------------------------


def test_enqueue_and_linking_cost_grows_with_new_requests_only(sessions, monkeypatch):
    """Case 8: matching a new request against the open jobs happens in SQL (one indexed query), so
    neither the number of statements nor the addresses normalised in Python grow with the open jobs
    already there."""
    import gateway.addresses

    normalised = Counter()
    real = gateway.addresses.street_key

    def counting(street):
        normalised["calls"] += 1
        return real(street)

    for module in ("gateway.linking", "gateway.sync.push"):
        if hasattr(__import__(module, fromlist=["x"]), "street_key"):
            monkeypatch.setattr(f"{module}.street_key", counting)
    engine = sessions.kw["bind"]
    statements = Counter()
    event.listen(engine, "before_cursor_execute", lambda *a: statements.update(["n"]))

    def enqueue(new: int, open_before: int, code: str) -> tuple[int, int]:
        ctx = fake_context(sessions, FakeUtility())
        for house in range(open_before):
            register(sessions, code, house=f"{house + 100}", at=utcnow() - timedelta(hours=1))
        push.enqueue_new_requests(ctx, Counter())
        for house in range(new):
            register(sessions, code, house=f"{house + 1}")
        normalised.clear()
        statements.clear()
        push.enqueue_new_requests(ctx, Counter())
        return normalised["calls"], statements["n"]

    small = enqueue(10, 5, "3.5")
    large = enqueue(10, 60, "3.2")
    assert large[0] <= 10 * 2, f"addresses normalised in Python: {large[0]} for 10 new requests"
    assert large[1] <= small[1] + 5, f"statements grow with the open jobs: {small[1]} -> {large[1]}"


def test_works_that_overran_reopen_the_requests_their_announced_end_closed(sessions):
    """An outage's announced end passes: its linked requests close as done, the history saying that
    no revision extended it; the utility then extends the works: they are open again."""
    from tests.test_announcements_pipeline import _notice

    utility = FakeUtility(works=[_notice()])
    ctx = fake_context(sessions, utility)
    run_step(ctx, "pull_planned_works")
    inside = register(sessions, "3.1", street="вул. Соборності", house="14")
    run_step(ctx, "push_jobs")
    clock = Clock(timedelta(hours=7))  # past the announced end (6 h)
    ctx.clock = clock
    run_step(ctx, "pull_planned_works")
    with sessions() as session:
        request = request_by_number(session, inside)
        assert request.status == RequestStatus.DONE
        assert "no revision extended them" in request.history[-1].note
    utility.works = [_notice(revision=2, ends_at=utcnow() + timedelta(hours=12))]
    run_step(ctx, "pull_planned_works")
    with sessions() as session:
        request = request_by_number(session, inside)
        assert request.status == RequestStatus.IN_PROGRESS
        assert "extended the works" in request.history[-1].note


def test_overlapping_workers_at_the_soap_utility_make_one_complaint(engine, sessions):
    """Case 1 over real SOAP: worker A's RegisterComplaint is slow at teplotsentral (the simulator
    commits after 8 s); worker B, whose clock is past A's lease, claims the in-flight dispatch
    meanwhile. FindComplaints finds nothing yet, and teplotsentral is not idempotent: B must wait
    rather than register a second complaint. A's late answer loses its claim; a later lookup
    settles the dispatch on A's complaint."""
    from dataclasses import replace as replace_manifest

    from gateway.connector import Timeouts
    from tests.conformance.helpers import REGISTRY, context, register_for, start_simulator

    manifest = replace_manifest(REGISTRY["teplotsentral"], timeouts=Timeouts(connect=2, read=20))
    sim = start_simulator(manifest)
    try:
        (number,) = register_for(sessions, manifest, 1)
        sim.faults.inject("latency", method="POST", times=1, seconds=8)
        worker_a = context(manifest, sim, engine)
        worker_b = context(manifest, sim, engine, clock=Clock(timedelta(minutes=30)))
        thread = threading.Thread(target=push.push_new_requests, args=(worker_a, Counter()))
        thread.start()
        for _ in range(200):  # until A's create is at the utility (the fault taken), at most 20 s
            if sim.faults.injected.get("latency"):
                break
            threading.Event().wait(0.1)
        assert sim.faults.injected.get("latency") == 1
        push.push_new_requests(worker_b, Counter())  # the lock lost (a frozen worker): the claim decides
        thread.join(60)
        assert len(sim.jobs_by_reference().get(number, [])) == 1
        later = context(manifest, sim, engine, clock=Clock(timedelta(hours=3)))
        run_step(later, "push_jobs")
        with sessions() as session:
            dispatch = dispatch_of(session, number, "teplotsentral")
            assert dispatch.state == states.SENT
            assert [dispatch.job_id] == sim.jobs_by_reference()[number]
        for ctx in (worker_a, worker_b, later):
            ctx.connector.close()
    finally:
        sim.stop()


def test_a_connector_bug_on_one_event_dead_letters_it_and_the_rest_are_delivered(sessions):
    """A connector that cannot word one event (found by make chaos: a KeyError on a new event kind) must
    not stop the utility's whole outbox: that event goes to a person naming the error, the others go."""
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    first, second = register(sessions, house="1"), register(sessions, house="2")
    run_step(ctx, "push_jobs")
    with sessions() as session, session.begin():
        add_history(session, request_by_number(session, first), actor="resident", field="details", old=None,
                    new="не вміщається")
        add_history(session, request_by_number(session, second), actor="resident", field="details", old=None,
                    new="код 45")
    worded = ctx.connector.push_update

    def push_update(job_id, update):
        if update.text == "не вміщається":
            raise KeyError("details")  # the connector's own bug
        worded(job_id, update)

    ctx.connector.push_update = push_update
    counts = run_step(ctx, "push_updates")
    assert [u.text for _, u in utility.updates] == ["код 45"]
    assert counts["dead_lettered"] == 1 and counts["sent"] == 1
    with sessions() as session:
        (letter,) = session.scalars(select(DeadLetter).where(DeadLetter.stream == "updates")).all()
        assert letter.error_class == "unexpected" and "KeyError" in letter.message
