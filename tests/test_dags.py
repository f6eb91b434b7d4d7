"""The DAG file parses with no network or database access and builds one DAG per connector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
            "attempt_seconds": {t.task_id: [t.retries, t.retry_delay.total_seconds(),
                                            t.execution_timeout.total_seconds()] for t in dag.tasks},
            "dagrun_timeout": dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout else None,
            "doc_md": dag.doc_md,
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


def _worst_case_seconds(attempts: dict[str, list[float]]) -> float:
    """Every task chained, each running all its attempts to the timeout (steps run even after a failure)."""
    return sum((retries + 1) * timeout + retries * delay for retries, delay, timeout in attempts.values())


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
        assert set(dag["tasks"]) == {*manifest.steps, "report"}
        assert manifest.title in dag["doc_md"] and manifest.conn_id in dag["doc_md"]
        assert "docs/operations.md" in dag["doc_md"]
        assert all(f"`{step}`" in dag["doc_md"] for step in manifest.steps)
    # parsing reads manifests only: no connector, HTTP, SOAP or database client is imported
    assert [m for m in result["loaded"] if m.startswith("connectors.")] == []
    assert "zeep" not in result["loaded"]


def test_a_failing_run_never_outlasts_its_schedule():
    """Retries and timeouts are derived from each manifest's schedule: all attempts of all tasks fit
    into the time before the next run is due, and the run itself times out before then."""
    from gateway.schedules import shortest_gap

    result = _parse()
    for name, manifest in load_registry().items():
        dag = result["dags"][f"{name}_sync"]
        gap = shortest_gap(manifest.schedule).total_seconds()
        assert _worst_case_seconds(dag["attempt_seconds"]) <= gap
        assert dag["dagrun_timeout"] is not None and dag["dagrun_timeout"] < gap
        assert dag["retries"] == [1]  # a step retries once; the schedule itself is the next retry
        assert min(timeout for _, _, timeout in dag["attempt_seconds"].values()) >= 5


def test_report_and_monitor_runs_are_bounded_too():
    from dags.deadline_monitor import SCHEDULES as MONITORS
    from dags.executor_report import SCHEDULES as REPORTS
    from gateway.schedules import shortest_gap

    result = _parse()
    for dag_id, schedule in {"deadline_monitor": MONITORS["city"], "deadline_monitor_urgent": MONITORS["urgent"],
                             "executor_report_weekly": REPORTS["weekly"],
                             "executor_report_monthly": REPORTS["monthly"]}.items():
        dag = result["dags"][dag_id]
        assert all(timeout is not None and timeout <= 3600 for _, _, timeout in dag["attempt_seconds"].values())
        assert dag["dagrun_timeout"] is not None and dag["dagrun_timeout"] < shortest_gap(schedule).total_seconds()
        assert _worst_case_seconds(dag["attempt_seconds"]) <= dag["dagrun_timeout"]


def test_run_budget_scales_with_the_schedule():
    from gateway.errors import ConfigError
    from gateway.schedules import run_budget

    for schedule in ("*/5 * * * *", "*/10 * * * *", "0 * * * *", "0 8 * * 1-5"):
        for steps in (1, 3, 4):
            budget = run_budget(schedule, steps)
            assert budget.worst_case(steps) <= budget.dagrun_timeout
    assert run_budget("0 * * * *", 4).execution_timeout > run_budget("*/5 * * * *", 4).execution_timeout
    with pytest.raises(ConfigError, match="too short"):  # a minute cannot hold four steps with a retry each
        run_budget("* * * * *", 4)
