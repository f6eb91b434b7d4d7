"""The DAG file parses with no network or database access and builds one DAG per connector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from gateway.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent

PARSE_WITH_SOCKETS_BLOCKED = textwrap.dedent(
    """
    import json, socket, sys, time

    def refuse(*args, **kwargs):
        raise RuntimeError(f"network access at DAG parse time: {args!r}")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from airflow.dag_processing.dagbag import DagBag

    started = time.monotonic()
    bag = DagBag(dag_folder=sys.argv[1])
    took = time.monotonic() - started
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "tags": sorted(dag.tags),
            "owners": sorted({t.owner for t in dag.tasks}),
            "pools": sorted({t.pool for t in dag.tasks}),
            "retries": sorted({t.retries for t in dag.tasks if t.task_id != "report"}),
            "tasks": [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else
                     sorted(dag.task_ids),
        }
    loaded = sorted(m for m in sys.modules if m.startswith(("connectors.", "zeep", "requests", "psycopg")))
    print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
                      "loaded": loaded, "seconds": took}))
    """
)


def _parse() -> dict:
    env = {**os.environ, "GATEWAY_DATABASE_URL": "postgresql://nobody@192.0.2.1/nowhere"}
    out = subprocess.run([sys.executable, "-c", PARSE_WITH_SOCKETS_BLOCKED, str(ROOT / "dags")], env=env,
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dagbag_imports_without_errors_while_sockets_are_blocked():
    result = _parse()
    assert result["errors"] == {}
    registry = load_registry()
    reports = {"deadline_monitor", "deadline_monitor_urgent", "executor_report_weekly", "executor_report_monthly"}
    assert set(result["dags"]) == {f"{name}_sync" for name in registry} | reports
    for name, manifest in registry.items():
        dag = result["dags"][f"{name}_sync"]
        assert dag["max_active_runs"] == 1 and dag["catchup"] is False
        assert {"gateway", name} <= set(dag["tags"])
        assert dag["owners"] == [manifest.owner]
        assert dag["pools"] == [f"utility_{name}"]
        assert dag["retries"] == [2]
        assert set(dag["tasks"]) == {*manifest.steps, "report"}
    # parsing reads manifests only: no connector, HTTP, SOAP or database client is imported
    assert [m for m in result["loaded"] if m.startswith("connectors.")] == []
    assert "zeep" not in result["loaded"]
