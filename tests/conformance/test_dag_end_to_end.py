"""End to end through Airflow: each utility's sync DAG (dag.test) against its simulator over the wire
and the PostgreSQL contact-centre database. N requests -> exactly N jobs, also when the utility drops
replies after committing; statuses come back in order; announcements appear, change and cancel.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from gateway.connections import to_airflow_json
from gateway.models import Announcement, Dispatch, Request
from gateway.statuses import RequestStatus
from tests.conformance.helpers import CONNECTORS, REGISTRY, no_doubles, register_for, start_simulator

pytestmark = pytest.mark.airflow
REQUESTS = 12


def _run(dag) -> str:
    run = dag.test()
    return str(run.state)


@pytest.mark.parametrize("name", CONNECTORS)
def test_sync_dag_moves_requests_statuses_and_announcements(name, airflow_home, pg_url, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from gateway.db import make_engine, session_factory

    manifest = REGISTRY[name]
    sim = start_simulator(manifest)
    try:
        monkeypatch.setenv("GATEWAY_DATABASE_URL", pg_url)
        monkeypatch.setenv(f"AIRFLOW_CONN_{manifest.conn_id.upper()}", to_airflow_json(sim.connection_config()))
        engine = make_engine(pg_url)
        sessions = session_factory(engine)
        numbers = register_for(sessions, manifest, REQUESTS)
        announces = "planned_works" in manifest.streams  # an optional stream: only where declared
        kept, cancelled = (sim.add_planned_work(), sim.add_planned_work()) if announces else (None, None)
        method, path = sim.create_route
        sim.faults.inject("drop_after_commit", method=method, path=path, times=3)

        dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(f"{name}_sync")
        assert _run(dag) == "success"
        assert sim.faults.injected["drop_after_commit"] == 3
        assert no_doubles(sim) == {}
        with sessions() as session:
            linked = {d.reference for d in session.scalars(select(Dispatch).where(Dispatch.state == "linked"))}
        # every request is exactly one job at the utility, or joined a known outage / open job instead
        assert set(sim.jobs_by_reference()) | linked == set(numbers)
        assert set(sim.jobs_by_reference()) & linked == set()

        sim.advance(4)
        if announces:
            sim.revise_planned_work(kept)
            sim.cancel_planned_work(cancelled)
        assert _run(dag) == "success"

        with sessions() as session:
            assert {d.state for d in session.scalars(select(Dispatch))} <= {"sent", "linked"}
            moved = 0
            for number in numbers:
                request = session.scalars(select(Request).where(Request.number == number)).one()
                changes = [h for h in request.history if h.actor == f"sync:{name}" and h.old_value != "registered"]
                assert [h.at for h in changes] == sorted(h.at for h in changes)
                moved += request.status not in (RequestStatus.REGISTERED, RequestStatus.SENT)
            assert moved > 0, "no status came back"
            announcements = {a.notice_id: a for a in session.scalars(select(Announcement))}
            if announces:
                assert announcements[kept].state == "active" and announcements[kept].revision > 1
                assert announcements[cancelled].state == "cancelled"
            else:
                assert announcements == {}
        engine.dispose()
    finally:
        sim.stop()
