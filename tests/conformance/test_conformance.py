"""The standard suite every connector passes, parametrised over the connector registry.

A new utility gets these tests by adding its manifest, mapping, connector and simulator: nothing
here names a utility. They run through the real sync engine against the simulator over the wire.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from gateway.classifier import default_classifier
from gateway.models import Announcement, AnnouncementRevision, Dispatch, Request
from gateway.sync.engine import run_step
from tests.conformance.helpers import (
    CONNECTORS,
    CONTACT_NAME,
    REGISTRY,
    context,
    no_doubles,
    register_for,
    served_codes,
    start_simulator,
)

pytestmark = pytest.mark.parametrize("name", CONNECTORS)


@pytest.fixture
def sim(name):
    simulator = start_simulator(REGISTRY[name])
    yield simulator
    simulator.stop()


def test_manifest_and_mapping_are_valid_against_the_classifier(name):
    manifest = REGISTRY[name]
    current = default_classifier().current
    codes = served_codes(manifest)
    assert codes, f"{name} maps no classifier item"
    assert {current.by_code(c).executor for c in codes} == {manifest.executor}
    served = {i.code for i in current.items if i.executor == manifest.executor}
    assert served == set(codes), "every item the utility serves is mapped, and only those"
    assert manifest.connector_class.statuses, "the connector declares its statuses"


def test_every_mapped_item_is_accepted_by_the_utility(name, sim, engine, sessions):
    manifest = REGISTRY[name]
    numbers = register_for(sessions, manifest, len(served_codes(manifest)))
    counts = run_step(context(manifest, sim, engine), "push_jobs")
    assert counts.get("dead_lettered", 0) == 0, "a mapped job type was refused by the utility"
    assert counts["created"] == len(numbers)
    assert sorted(sim.jobs_by_reference()) == sorted(numbers)


def test_create_is_idempotent_under_dropped_responses(name, sim, engine, sessions):
    manifest = REGISTRY[name]
    numbers = register_for(sessions, manifest, 6)
    method, path = sim.create_route
    sim.faults.inject("drop_after_commit", method=method, path=path, times=3)
    ctx = context(manifest, sim, engine)
    counts = Counter(run_step(ctx, "push_jobs"))
    for _ in range(3):  # anything left unknown is settled by later runs
        with sessions() as session:
            open_ = session.scalar(select(Dispatch.id).where(Dispatch.state != "sent").limit(1))
        if open_ is None:
            break
        with sessions.begin() as session:
            for dispatch in session.scalars(select(Dispatch)):
                dispatch.next_attempt_at = dispatch.created_at
        counts.update(run_step(ctx, "push_jobs"))
    assert sim.faults.injected["drop_after_commit"] == 3
    assert counts["ambiguous"] >= 1  # (a SOAP service takes lookups on the same path: some drops hit them)
    assert no_doubles(sim) == {}
    assert sorted(sim.jobs_by_reference()) == sorted(numbers)
    with sessions() as session:
        assert {d.state for d in session.scalars(select(Dispatch))} == {"sent"}


def test_change_feed_resumes_from_its_cursor_without_gaps_or_repeats(name, sim, engine, sessions):
    manifest = REGISTRY[name]
    numbers = register_for(sessions, manifest, 5)
    ctx = context(manifest, sim, engine)
    run_step(ctx, "push_jobs")
    seen: list[str] = []
    cursor = None
    for round_ in range(4):
        sim.advance()
        for _ in range(50):
            page = ctx.connector.fetch_changes(cursor, 2)
            assert not page.rejects
            seen.extend(c.change_id for c in page.changes)
            cursor = page.next_cursor if page.next_cursor is not None else cursor
            if not page.has_more:
                break
        assert len(seen) == len(set(seen)), f"round {round_}: a change came twice"
    # no gaps: the last change seen of every job is the status the utility reports for it now
    with sessions() as session:
        jobs = {d.reference: d.job_id for d in session.scalars(select(Dispatch))}
    run_step(ctx, "pull_status_changes")
    with sessions() as session:
        for number in numbers:
            (remote,) = ctx.connector.find_jobs(number)
            assert remote.job_id == jobs[number]
            request = session.scalars(select(Request).where(Request.number == number)).one()
            assert request.status == ctx.mapping.status_for(remote.status), (number, remote.status)


def test_status_changes_arrive_in_order_in_the_request_history(name, sim, engine, sessions):
    manifest = REGISTRY[name]
    numbers = register_for(sessions, manifest, 4)
    ctx = context(manifest, sim, engine)
    run_step(ctx, "push_jobs")
    for _ in range(5):
        sim.advance()
        run_step(ctx, "pull_status_changes")
    with sessions() as session:
        for number in numbers:
            request = session.scalars(select(Request).where(Request.number == number)).one()
            # the utility's changes (all but the push's own "sent" row), in the order they happened
            history = [h for h in request.history if h.actor == f"sync:{name}" and h.old_value != "registered"]
            assert history, f"{number}: no change came back"
            assert [h.at for h in history] == sorted(h.at for h in history)
            (remote,) = ctx.connector.find_jobs(number)
            assert request.status == ctx.mapping.status_for(remote.status), (number, remote.status)


@pytest.mark.stream("planned_works")
def test_planned_works_round_trip_to_announcements(name, sim, engine, sessions):
    manifest = REGISTRY[name]
    ctx = context(manifest, sim, engine)
    notice = sim.add_planned_work()
    assert run_step(ctx, "pull_planned_works")["created"] == 1
    assert run_step(ctx, "pull_planned_works")["unchanged"] == 1
    with sessions() as session:
        announcement = session.scalars(select(Announcement)).one()
        assert announcement.notice_id == notice and announcement.state == "active"
        assert announcement.title_uk and announcement.body_uk and announcement.provider == name
        first_body = announcement.body_uk
    sim.revise_planned_work(notice)
    assert run_step(ctx, "pull_planned_works")["revised"] == 1
    sim.cancel_planned_work(notice)
    assert run_step(ctx, "pull_planned_works")["cancelled"] == 1
    with sessions() as session:
        announcement = session.scalars(select(Announcement)).one()
        assert announcement.state == "cancelled"
        revisions = session.scalars(select(AnnouncementRevision).order_by(AnnouncementRevision.id)).all()
        assert [r.state for r in revisions] == ["active", "active", "cancelled"]
        assert revisions[1].payload["body"] != first_body


def test_only_the_fields_the_mapping_sends_reach_the_utility(name, sim, engine, sessions):
    """What the utility received (its own copy of the create), not the test's draft: the phone and the
    flat only where the mapping sends them, the resident's name never."""
    manifest = REGISTRY[name]
    register_for(sessions, manifest, 1)
    ctx = context(manifest, sim, engine)
    assert run_step(ctx, "push_jobs")["created"] == 1
    with sessions() as session:
        dispatch = session.scalars(select(Dispatch)).one()
        request = dispatch.request
        received = str(sim.job_payload(dispatch.job_id))
    assert request.contact_name and CONTACT_NAME in request.contact_name
    assert CONTACT_NAME not in received, "the resident's name reached the utility"
    phone_digits = request.contact_phone[-7:]
    if "contact_phone" in ctx.mapping.send_fields:
        assert phone_digits in received, "the mapping sends the phone, the utility did not get it"
    else:
        assert phone_digits not in received, "the phone reached a utility whose mapping does not send it"
