"""A real Airflow deployment, as `make airflow` starts it: api-server, scheduler and dag-processor as
processes, LocalExecutor, PostgreSQL metadata. One sync DAG is triggered through the REST API and
runs to success against its simulator; the contact-centre database is reached through the
`contact_centre_db` Connection in its postgresql:// form; the gateway plugin answers inside the
API server. Everything it starts is stopped and its databases dropped, also when it fails.
"""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.db import make_engine, session_factory
from gateway.models import Dispatch, SyncRun
from tests.conformance.helpers import REGISTRY, no_doubles, register_for
from tests.conftest import fresh_database_url
from tests.file_modules import load_file

pytestmark = pytest.mark.airflow
ROOT = Path(__file__).resolve().parent.parent
UTILITY = "vodokanal"
DAG_ID = f"{UTILITY}_sync"
REQUESTS = 6
TIMEOUT = 150  # seconds for each wait; the whole test takes a minute or two on 2 busy cores


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def contact_centre(request, tmp_path):
    yield from fresh_database_url("postgresql", request, tmp_path)


def test_a_sync_dag_runs_on_a_real_scheduler(contact_centre, tmp_path):
    local = load_file(ROOT / "scripts" / "airflow_local.py", "airflow_local")
    manifest = REGISTRY[UTILITY]
    sessions = session_factory(make_engine(contact_centre))
    numbers = register_for(sessions, manifest, REQUESTS)
    metadata_db = f"airflow_ops_{uuid.uuid4().hex[:8]}"
    local.create_database(metadata_db)
    processes: dict = {}
    try:
        with local.simulators({UTILITY: manifest}, prompt=True) as running:
            env = local.airflow_env(tmp_path, metadata_db, _free_port(), paused=True,
                                    connections=local.connection_variables(REGISTRY, running, contact_centre))
            assert env["AIRFLOW_CONN_CONTACT_CENTRE_DB"].startswith("postgresql://")
            local.migrate(env)
            processes = local.start(env, ("api-server", "scheduler", "dag-processor"))
            api = local.Api(env)
            api.wait_ready(processes, TIMEOUT)
            api.create_pools({manifest.pool: f"{UTILITY} sync"})
            api.wait_for_dag(DAG_ID, processes, TIMEOUT)
            run_id = api.trigger(DAG_ID)
            assert api.wait_for_run(DAG_ID, run_id, processes, TIMEOUT) == "success", api.task_states(DAG_ID, run_id)
            assert set(api.task_states(DAG_ID, run_id).values()) == {"success"}

            sim = running[UTILITY]
            assert set(sim.jobs_by_reference()) == set(numbers) and no_doubles(sim) == {}
            with sessions() as session:
                assert {d.state for d in session.scalars(select(Dispatch))} == {"sent"}
                assert {r.outcome for r in session.scalars(select(SyncRun))} == {"ok"}

            # every task of the run logged one summary line of the gateway's
            logs = Path(env["AIRFLOW_HOME"]) / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
            for task_id in [*manifest.steps, "report"]:
                lines = (logs / f"task_id={task_id}" / "attempt=1.log").read_text().splitlines()
                summaries = [json.loads(line)["event"] for line in lines if '"logger":"gateway.dag"' in line]
                assert len(summaries) == 1, (task_id, summaries)
                assert summaries[0].startswith(f"{UTILITY} ")

            # the plugin's page, JSON and metrics, served by Airflow's own API server
            base = env["AIRFLOW__API__BASE_URL"]
            plugins = api.http.get(f"{base}/api/v2/plugins", timeout=30).json()["plugins"]
            (plugin,) = [p for p in plugins if p["name"] == "gateway_status"]
            assert plugin["external_views"][0]["href"] == "gateway/"
            status = api.http.get(f"{base}/gateway/status.json", timeout=30).json()
            (row,) = [u for u in status["utilities"] if u["utility"] == UTILITY]
            assert row["pending"] == 0 and row["last_good_push"] is not None and row["reasons"] == []
            metrics = api.http.get(f"{base}/gateway/metrics", timeout=30).text
            assert f'gateway_pending_requests{{utility="{UTILITY}"}} 0.0' in metrics
            assert "Шлюз" in api.http.get(f"{base}/gateway/", timeout=30).text
    finally:
        local.stop(processes)
        local.drop_database(metadata_db)
