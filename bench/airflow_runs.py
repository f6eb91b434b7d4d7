"""naive_airflow_speedup: the naive one-mapped-task-per-request DAG divided by the gateway's DAG,
both under dag.test() against a fresh vodokanal simulator and database with the same requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.databases import Databases
from bench.world import ROOT, STATE, dispatch_states, fill, start_simulator
from gateway.connections import to_airflow_json
from gateway.db import make_engine

NAIVE_DAGS = Path(__file__).parent / "naive_dags"
AIRFLOW_HOME = STATE / "airflow"


def airflow_environment() -> None:
    """Airflow's home in .bench/ (never ~/airflow); must run before anything imports airflow."""
    os.environ.setdefault("AIRFLOW_HOME", str(AIRFLOW_HOME))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"


def migrate_airflow() -> None:
    STATE.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, cwd=ROOT)


def _run_dag(folder: Path, dag_id: str, log: Path) -> tuple[float, str]:
    """dag.test() in a fresh interpreter whose DAG folder is ``folder``; the clock runs round dag.test()."""
    done = subprocess.run([sys.executable, "-m", "bench.dagtest", str(folder), dag_id, str(log)], check=True,
                          capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], result["state"]


def one_side(dbs: Databases, count: int, folder: Path, dag_id: str) -> dict[str, Any]:
    url = dbs.fresh()
    fill(url, count, executors={"vodokanal"}, spread=timedelta(minutes=30))
    sim = start_simulator("vodokanal")
    os.environ["GATEWAY_DATABASE_URL"] = url
    os.environ["AIRFLOW_CONN_VODOKANAL_API"] = to_airflow_json(sim.connection_config())
    try:
        seconds, state = _run_dag(folder, dag_id, STATE / "airflow-runs.log")
        jobs = sum(len(ids) for ids in sim.jobs_by_reference().values())
    finally:
        sim.stop()
        os.environ.pop("GATEWAY_DATABASE_URL", None)
    engine = make_engine(url)
    states = dispatch_states(engine, "vodokanal")
    engine.dispose()
    dbs.drop(url)
    return {"dag_id": dag_id, "seconds": seconds, "state": state, "jobs_at_utility": jobs, "dispatches": states}


def measure_naive(dbs: Databases, count: int) -> dict[str, Any]:
    migrate_airflow()
    gateway = one_side(dbs, count, ROOT / "dags", "vodokanal_sync")
    naive = one_side(dbs, count, NAIVE_DAGS, "naive_vodokanal_push")
    return {"requests": count, "gateway": gateway, "naive": naive,
            "gateway_ms_per_request": 1000 * gateway["seconds"] / count,
            "naive_ms_per_request": 1000 * naive["seconds"] / count,
            "speedup": naive["seconds"] / gateway["seconds"]}
