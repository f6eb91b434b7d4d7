"""`make distributed` as a test: every sync DAG succeeds on the CeleryExecutor with tasks on both
workers, nothing doubled or left unsent, and everything it started is gone afterwards.

Part of `make test` (about a minute and a half); alone: `pytest -m distributed tests/distributed`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import psycopg
import pytest

from gateway.registry import load_registry
from tests.distributed.conftest import ROOT, distributed

pytestmark = pytest.mark.distributed
SCRIPT = ROOT / "scripts" / "distributed.py"


def _databases(run_id: str) -> list[str]:
    from airflow_cluster import PG_ADMIN_URL  # scripts/ is on the path once conftest loaded the script

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                           (f"%{run_id}",))]


def test_every_sync_dag_runs_to_success_across_two_celery_workers(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--state-dir", str(tmp_path), "--requests", "60"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    found = distributed.SUMMARY_RE.findall(done.stdout)
    assert len(found) == 1, f"one summary line expected:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    runs, succeeded, tasks, used, workers, jobs, doubled, unsent = map(int, found[0])
    registry = load_registry()  # one DAG per registered connector: its steps and the report
    assert (runs, succeeded) == (len(registry), len(registry)), done.stdout
    assert (used, workers) == (2, 2), "tasks ran on both workers"
    assert tasks == sum(len(m.steps) + 1 for m in registry.values()) and jobs > 0
    assert (doubled, unsent) == (0, 0)
    assert done.returncode == 0, done.stdout[-3000:]
    # Everything started is stopped: no process still writes to the run's logs, its databases are gone.
    run_id = next(line for line in done.stdout.splitlines() if line.startswith("== run ")).split()[2].rstrip(":")
    assert _databases(run_id) == []
    logs = {str(p) for p in (tmp_path / "logs").glob("*.log")}
    assert {"api-server.log", "scheduler.log", "dag-processor.log", "triggerer.log"} <= {p.rsplit("/", 1)[1]
                                                                                        for p in logs}
    left = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if str(tmp_path) in process.environ().get("AIRFLOW_HOME", ""):
                left.append(process.info)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    assert left == [], f"left running: {left}"
