"""The suite's cases for the mistakes a connector makes most: reading one page of a feed, losing or
repeating changes that share the feed's ordering key across a page border, dropping a second change
within one second, treating the utility's "already exists" answer as an error, and calling a stream
the utility does not have.

Registry-driven like the rest of the suite: every registered connector against its own simulator,
with nothing here naming a utility. What a case needs of a simulator is its documented state API plus
two optional knobs: ``page_size`` (items per page where the utility fixes it) and ``clock`` (a
constructor argument: time held still, so that changes share one timestamp). A simulator without the
clock skips the cases that need ties, saying so.
"""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import get_args
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from gateway.connector import Connector, JobUpdate, UpdateKind
from gateway.models import Dispatch, Request
from gateway.reference_data import code_of
from gateway.runner import run_sync_steps
from gateway.sync.engine import run_step
from gateway.sync.push import build_draft
from gateway.sync.states import SENT
from tests.conformance.helpers import CONNECTORS, REGISTRY, STARTED, context, no_doubles, register_for

RUNNING: list = []  # simulators this test started, stopped after it
pytestmark = pytest.mark.parametrize("name", CONNECTORS)
PAGE = 4  # items per page in these tests: a few requests make many pages
PAGES = 4  # "several": more than three pages of every stream


def _start(name: str, *, held: bool = False):
    """The utility's simulator with small pages and, if ``held``, its clock stopped on one second."""
    cls = REGISTRY[name].simulator_class()
    options = {}
    if held:
        if "clock" not in inspect.signature(cls).parameters:
            pytest.skip(f"the {name} simulator has no clock to hold still")
        moment = datetime.now(ZoneInfo("Europe/Kyiv")).replace(microsecond=0)
        options["clock"] = lambda: moment
    sim = cls(seed=1520, **options).start()
    sim.prompt()
    if hasattr(sim, "page_size"):
        sim.page_size = PAGE
    STARTED.append(sim)
    RUNNING.append(sim)
    return sim


@pytest.fixture(autouse=True)
def stop_simulators():
    yield
    while RUNNING:
        RUNNING.pop().stop()


@pytest.fixture
def small_pages(name):
    """The manifest with batches of PAGE, so a feed paged by the client's limit pages as often."""
    return replace(REGISTRY[name], batch_size=PAGE)


def _statuses_match_the_utility(ctx, sessions, numbers: list[str]) -> None:
    """Every request's status is the one the utility reports for its job now (none lost)."""
    with sessions() as session:
        for number in numbers:
            request = session.scalars(select(Request).where(Request.number == number)).one()
            (remote,) = ctx.connector.find_jobs(number)
            assert request.status == ctx.mapping.status_for(remote.status), (
                f"{number}: the utility says {remote.status!r}, the contact centre has {request.status}")


def _walk_feed(ctx, cursor: str | None) -> tuple[list, str | None]:
    """Every change the connector hands out from ``cursor`` on, page by page as the engine asks."""
    changes = []
    for _ in range(200):
        page = ctx.connector.fetch_changes(cursor, PAGE)
        assert not page.rejects
        changes += page.changes
        cursor = page.next_cursor if page.next_cursor is not None else cursor
        if not page.has_more:
            return changes, cursor
    raise AssertionError("the feed never said it was done")


def test_every_stream_pages_past_several_pages(name, small_pages, engine, sessions):
    sim = _start(name)
    count = PAGE * (PAGES - 1) + 1  # PAGES pages, the last one holding a single item
    numbers = register_for(sessions, small_pages, count)
    ctx = context(small_pages, sim, engine)
    pushed = run_step(ctx, "push_jobs")
    assert pushed["created"] == count and no_doubles(sim) == {}
    sim.advance()
    pulled = run_step(ctx, "pull_status_changes")
    assert pulled["pages"] >= PAGES, f"{count} changed jobs came in {pulled['pages']} page(s) of {PAGE}"
    _statuses_match_the_utility(ctx, sessions, numbers)
    if "planned_works" in small_pages.streams:
        notices = {sim.add_planned_work() for _ in range(count)}
        assert run_step(ctx, "pull_planned_works")["created"] == len(notices)
    ctx.connector.close()


def test_ties_on_the_ordering_key_across_page_borders_are_neither_lost_nor_repeated(
        name, small_pages, engine, sessions):
    sim = _start(name, held=True)  # every change of this test shares one timestamp
    count = PAGE * (PAGES - 1) + 2  # PAGES pages, not all full: the tie runs over every border
    numbers = register_for(sessions, small_pages, count)
    ctx = context(small_pages, sim, engine)
    run_step(ctx, "push_jobs")
    seen, cursor = _walk_feed(ctx, None)
    for _ in range(2):
        sim.advance()
        more, cursor = _walk_feed(ctx, cursor)
        seen += more
    repeated = [key for key, n in Counter(c.change_id for c in seen).items() if n > 1]
    assert repeated == [], f"changes handed out twice: {repeated[:3]}"
    with sessions() as session:
        jobs = {d.job_id: d.reference for d in session.scalars(select(Dispatch))}
    last = {}
    for change in sorted(seen, key=lambda c: (c.changed_at, c.position)):
        last[change.job_id] = change.status
    for job_id, reference in jobs.items():
        (remote,) = ctx.connector.find_jobs(reference)
        assert last.get(job_id) == remote.status, f"{reference}: the change to {remote.status!r} was lost"
    ctx.connector.close()
    assert len(jobs) == len(numbers)


def test_a_second_change_within_the_same_second_is_applied(name, small_pages, engine, sessions):
    sim = _start(name, held=True)
    numbers = register_for(sessions, small_pages, 3)
    ctx = context(small_pages, sim, engine)
    run_step(ctx, "push_jobs")
    for _ in range(3):  # each pull sees a newer status stamped with the same second as the last one
        run_step(ctx, "pull_status_changes")
        sim.advance()
    run_step(ctx, "pull_status_changes")
    _statuses_match_the_utility(ctx, sessions, numbers)
    with sessions() as session:
        for number in numbers:
            request = session.scalars(select(Request).where(Request.number == number)).one()
            moves = [h.new_value for h in request.history if h.actor == f"sync:{name}" and h.field == "status"]
            assert len(moves) == len(set(moves)), f"{number}: a status applied twice: {moves}"
    ctx.connector.close()


def test_a_repeated_create_is_answered_with_the_existing_job(name, engine, sessions):
    manifest = REGISTRY[name]
    if not manifest.connector_class.idempotent_create:
        pytest.skip(f"{name} does not declare idempotent creates: a repeat would be a second job by design")
    sim = _start(name)
    (number,) = register_for(sessions, manifest, 1)
    ctx = context(manifest, sim, engine)
    assert run_step(ctx, "push_jobs")["created"] == 1
    with sessions() as session:
        dispatch = session.scalars(select(Dispatch)).one()
        assert dispatch.state == SENT
        draft = build_draft(ctx, dispatch.request, dispatch, code_of(session, dispatch.request.classifier_item_id))
        first_job = dispatch.job_id
    again = ctx.connector.create_job(draft)  # as after a reply lost on the way back
    job_id = again.job_id
    for _ in range(40):
        if job_id:
            break
        found = ctx.connector.resolve_pending(again.pending_token)
        job_id = found.job_id if found else None
    assert job_id == first_job, "a repeated create must name the job the utility already has"
    assert sim.jobs_by_reference() == {number: [first_job]}
    ctx.connector.close()


def test_a_connector_without_a_stream_declares_so_and_is_never_asked(name, database_url):
    manifest = REGISTRY[name]
    declared = "planned_works" in manifest.streams
    assert declared == manifest.connector_class.has_planned_works(), (
        "the manifest's streams must say whether the connector has planned works "
        f"(declared: {declared}, implemented: {manifest.connector_class.has_planned_works()})")
    assert ("pull_planned_works" in manifest.steps) == declared
    if declared:
        assert manifest.connector_class.fetch_planned_works is not Connector.fetch_planned_works
        return
    sim = _start(name)
    before = len(sim.request_log)
    counts = run_sync_steps(name, ["pull_planned_works"], sim.connection_config(), database_url)
    assert counts == {"pull_planned_works": {"not_declared": 1}}
    assert len(sim.request_log) == before, "the utility was called for a stream it does not have"
    everything = run_sync_steps(name, None, sim.connection_config(), database_url)
    assert set(everything) == set(manifest.steps) and "pull_planned_works" not in everything



def test_every_kind_of_contact_centre_event_reaches_the_job(name, engine, sessions):
    """Rework, withdrawal, details and the contact centre's closure, each sent the way the engine sends it
    (a closure through ``close_job``), arrive at the utility's job: no kind a connector cannot word."""
    sim = _start(name)
    manifest = REGISTRY[name]
    (number,) = register_for(sessions, manifest, 1)
    ctx = context(manifest, sim, engine)
    assert run_step(ctx, "push_jobs")["created"] == 1
    with sessions() as session:
        job_id = session.scalars(select(Dispatch.job_id).join(Request).where(Request.number == number)).one()
    held = getattr(sim, "notes", None) or sim.comments  # whichever the utility keeps
    for kind in get_args(UpdateKind):
        update = JobUpdate(kind=kind, text=f"подія {kind} [ev-{kind}]", at=datetime.now(ZoneInfo("Europe/Kyiv")))
        (ctx.connector.close_job if kind == "closed" else ctx.connector.push_update)(job_id, update)
        texts = " ".join(str(note) for note in held(job_id))
        assert f"[ev-{kind}]" in texts, f"a {kind} event did not reach {name} job {job_id}"
    ctx.connector.close()
