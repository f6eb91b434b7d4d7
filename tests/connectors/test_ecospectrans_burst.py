"""A burst of 500 waste requests through the sync engine at the utility's real limit of 5 requests/s,
with tokens expiring mid-batch: no permanent failure, no double ticket, and the utility never counts
more than 5 requests in any second from the gateway (the limiter keeps it there, not 429s).

Slow by nature (about 1,000 calls at 5/s); it runs on PostgreSQL only.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from gateway.db import make_engine, session_factory
from gateway.models import Dispatch
from gateway.sync.engine import run_step
from simulators.ecospectrans import EcospectransSimulator
from tests.conformance.helpers import REGISTRY, context, no_doubles, register_for
from tests.conftest import fresh_database_url

BURST = 500


@pytest.fixture
def pg_sessions(request, tmp_path):
    for url in fresh_database_url("postgresql", request, tmp_path):
        engine = make_engine(url)
        yield engine, session_factory(engine)
        engine.dispose()


def test_a_burst_of_500_stays_under_the_rate_limit_with_no_failures(pg_sessions):
    engine, sessions = pg_sessions
    manifest = REGISTRY["ecospectrans"]
    sim = EcospectransSimulator(token_lifetime=30.0, creation_delay=0.2).start()  # tokens expire mid-burst
    try:
        numbers = register_for(sessions, manifest, BURST)
        ctx = context(manifest, sim, engine, pending_interval=1.0, pending_rounds=30)
        ctx.manifest = replace(manifest, batch_size=100)
        counts = run_step(ctx, "push_jobs")
        assert counts.get("dead_lettered", 0) == 0 and counts.get("unknown", 0) == 0
        assert no_doubles(sim) == {}
        with sessions() as session:
            states = [d.state for d in session.scalars(select(Dispatch))]
        linked = states.count("linked")
        assert states.count("sent") + linked == BURST
        assert len(sim.jobs_by_reference()) == BURST - linked
        assert set(sim.jobs_by_reference()) <= set(numbers)
        assert sim.max_requests_per_window(1.0) <= 5
        assert sim.rate_limited_count() == 0
    finally:
        sim.stop()
