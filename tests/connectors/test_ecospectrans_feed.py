"""The Екоспецтранс feed's watermark and an expired page cursor, through the engine on a real database
(both backends), against the simulator over real HTTP with small pages (4 tickets a page)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.db import utcnow
from gateway.models import Dispatch, Request
from gateway.sync.engine import run_step
from simulators.ecospectrans import EcospectransSimulator
from tests.conformance.helpers import REGISTRY, context, register_for

MANIFEST = REGISTRY["ecospectrans"]
ACTOR = "sync:ecospectrans"


@pytest.fixture
def sim():
    simulator = EcospectransSimulator(seed=7, rate_limit=10_000, creation_delay=0.0, page_size=4).start()
    yield simulator
    threading.Thread(target=simulator.stop, daemon=True).start()  # without sitting out the 0.5 s poll


def pushed(sim, engine, sessions, count: int = 10, **options):
    numbers = register_for(sessions, MANIFEST, count)
    ctx = context(MANIFEST, sim, engine, pending_interval=0.01, **options)
    assert run_step(ctx, "push_jobs")["created"] == count
    return numbers, ctx


def move_all(sim, sessions, status: str) -> dict[str, str]:
    """Every ticket to ``status`` at the utility; the job id of every request."""
    with sessions() as session:
        jobs = {d.request.number: d.job_id for d in session.scalars(select(Dispatch))}
    for job_id in jobs.values():
        sim.set_job_status(job_id, status)
    return jobs


def utility_history(sessions, number: str) -> list[str]:
    """The statuses the utility's changes gave the request, in order (the push's own row left out)."""
    with sessions() as session:
        request = session.scalars(select(Request).where(Request.number == number)).one()
        return [h.new_value for h in request.history if h.actor == ACTOR and h.old_value != "registered"]


def test_the_next_run_starts_from_a_recent_watermark_not_the_beginning(sim, engine, sessions):
    started = utcnow()
    numbers, ctx = pushed(sim, engine, sessions)
    move_all(sim, sessions, "scheduled")
    assert run_step(ctx, "pull_status_changes")["applied"] == len(numbers)
    asked = len(sim.feed_queries)

    move_all(sim, sessions, "collected")
    counts = run_step(ctx, "pull_status_changes")
    since, with_cursor, status = sim.feed_queries[asked]
    assert status == 200 and not with_cursor  # a fresh query from the watermark, not the old page cursor
    assert datetime.fromisoformat(since) >= started - timedelta(seconds=31)
    assert counts.get("stale_or_repeated", 0) == 0  # what the overlap shows again is deduplicated in the connector
    assert counts["received"] == len(numbers)

    assert run_step(ctx, "pull_status_changes").get("received", 0) == 0  # nothing new: nothing comes again
    for number in numbers:
        assert utility_history(sessions, number) == ["in_progress", "done"], number


def test_an_expired_cursor_mid_feed_restarts_from_the_watermark_and_applies_each_change_once(
        sim, engine, sessions):
    numbers, ctx = pushed(sim, engine, sessions, max_pages=1)
    jobs = move_all(sim, sessions, "scheduled")
    first = run_step(ctx, "pull_status_changes")  # one page of 4: the run stops mid-feed on a page cursor
    assert first["applied"] == 4
    seen_first = [n for n in numbers if utility_history(sessions, n)]
    unseen = [n for n in numbers if n not in seen_first]
    sim.expire_cursors()
    sim.set_job_status(jobs[seen_first[0]], "collected")  # already read once: comes again, as a new change
    sim.set_job_status(jobs[unseen[0]], "collected")  # not read yet: only its newest state is in the feed

    counts = run_step(context(MANIFEST, sim, engine), "pull_status_changes")
    assert (True, 410) in [(c, s) for _, c, s in sim.feed_queries]  # the utility did refuse the cursor
    assert sim.contract_violations == []  # the 410 is the contract's own answer
    assert counts.get("stale_or_repeated", 0) == 0
    for number in numbers:
        expected = {seen_first[0]: ["in_progress", "done"], unseen[0]: ["done"]}.get(number, ["in_progress"])
        assert utility_history(sessions, number) == expected, number
    assert run_step(context(MANIFEST, sim, engine), "pull_status_changes").get("received", 0) == 0
