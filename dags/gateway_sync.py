"""One sync DAG per registered utility connector, built from the manifests in connectors/.

Parsing reads YAML manifests only: no network, no database, no connector import. Each task resolves
the utility's Airflow Connection, runs one sync step in plain Python (gateway.runner), logs one
summary line and returns its counts; the last task reports what moved in one line and fails the run
if any step failed. Retries and timeouts come from the schedule (gateway.schedules.run_budget), so a
failing run ends before the next one is due.
"""

from __future__ import annotations

import logging
import os
import time

import pendulum
from airflow.sdk import dag, task

from gateway.registry import Manifest, load_registry
from gateway.schedules import RunBudget, run_budget

START = pendulum.datetime(2026, 1, 1, tz="Europe/Kyiv")


def _database_url() -> str:
    """The contact-centre database: GATEWAY_DATABASE_URL, else the Airflow Connection contact_centre_db."""
    if url := os.environ.get("GATEWAY_DATABASE_URL"):
        return url
    from airflow.sdk import BaseHook

    return BaseHook.get_connection("contact_centre_db").get_uri()


def _connection(conn_id: str):  # -> gateway.connections.ConnectionConfig
    from airflow.sdk import BaseHook

    from gateway.connections import from_airflow_fields

    conn = BaseHook.get_connection(conn_id)
    return from_airflow_fields(conn_id, conn_type=conn.conn_type, host=conn.host, port=conn.port,
                               schema=conn.schema, login=conn.login, password=conn.password,
                               extra=conn.extra_dejson)


log = logging.getLogger("gateway.dag")

OPERATIONS_DOC = """
### {title}: sync with the contact centre 1520

Every `{schedule}` (Europe/Kyiv), one run at a time, in pool `{pool}` (one slot). Connection
`{conn_id}` (the utility), `contact_centre_db` (the contact-centre database, or `GATEWAY_DATABASE_URL`).

| task | what it does |
|---|---|
{step_rows}
| `report` | one line per run: each step's counts; fails the run when a step failed |

Steps run one after another and each runs even when the one before failed (`all_done`).
A failed step retries {retries}x after {delay} s, each attempt at most {timeout} s; the whole run
ends after {run_timeout} s at the latest, before the next run is due. Nothing is lost by a failed
run: the next one resumes, every request keeps its own retry schedule in the database.

**When it fails** look at `gateway status` (or Browse -> Шлюз 1520): `CIRCUIT OPEN` in the report
means the utility failed several steps in a row and is only probed until it answers again; a request
the utility refuses for good becomes a dead letter (`gateway dlq list`, `gateway dlq retry ID`).
Operations guide: docs/operations.md.
"""

STEP_DOC = {
    "pull_planned_works": "the utility's planned and emergency works -> announcements for residents",
    "push_jobs": "new requests -> jobs at the utility, exactly once (looked up before any re-create)",
    "pull_status_changes": "the utility's status changes -> request statuses and history",
    "push_updates": "operators' rework, withdrawals and details -> the utility's jobs",
}


def operations_doc(manifest: Manifest, budget: RunBudget) -> str:
    rows = "\n".join(f"| `{step}` | {STEP_DOC.get(step, '')} |" for step in manifest.steps)
    return OPERATIONS_DOC.format(
        title=manifest.title, schedule=manifest.schedule, pool=manifest.pool, conn_id=manifest.conn_id,
        step_rows=rows, retries=budget.retries, delay=int(budget.retry_delay.total_seconds()),
        timeout=int(budget.execution_timeout.total_seconds()),
        run_timeout=int(budget.dagrun_timeout.total_seconds()),
    )


def build_sync_dag(manifest: Manifest):  # -> airflow.sdk.DAG
    budget = run_budget(manifest.schedule, len(manifest.steps))

    @dag(
        dag_id=f"{manifest.name}_sync",
        description=f"Contact centre 1520 <-> {manifest.title}",
        schedule=manifest.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=budget.dagrun_timeout,
        tags=["gateway", manifest.name, *manifest.tags],
        default_args={
            "owner": manifest.owner,
            "pool": manifest.pool,
            "retries": budget.retries,
            "retry_delay": budget.retry_delay,
            "execution_timeout": budget.execution_timeout,
        },
        doc_md=operations_doc(manifest, budget),
    )
    def sync():
        outputs = {}
        previous = None
        for step in manifest.steps:

            @task(task_id=step, trigger_rule="all_done")
            def run_step(step_name: str = step) -> dict[str, int]:
                from gateway.errors import error_class_name
                from gateway.runner import run_sync_steps

                started = time.monotonic()
                try:
                    counts = run_sync_steps(manifest.name, [step_name], _connection(manifest.conn_id),
                                            _database_url())[step_name]
                except Exception as exc:
                    log.error("%s %s: FAILED after %.1f s (%s, %s)", manifest.name, step_name,
                              time.monotonic() - started, error_class_name(exc), type(exc).__name__)
                    raise
                log.info("%s %s: ok in %.1f s %s", manifest.name, step_name, time.monotonic() - started,
                         counts or "nothing to do")
                return counts

            outputs[step] = run_step()
            if previous is not None:
                previous >> outputs[step]
            previous = outputs[step]

        @task(task_id="report", trigger_rule="all_done", retries=0, execution_timeout=budget.report_timeout)
        def report(results: dict[str, dict[str, int] | None]) -> dict[str, dict[str, int]]:
            failed = [step for step, counts in results.items() if counts is None]

            def said(counts: dict[str, int] | None) -> str:
                if counts is None:
                    return "FAILED"
                if counts.get("circuit_open"):
                    return "CIRCUIT OPEN (utility not called)"
                return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing to do"

            log.info("%s run: %s", manifest.name, "; ".join(f"{step}: {said(c)}" for step, c in results.items()))
            if failed:
                raise RuntimeError(f"{manifest.name}: step(s) failed: {', '.join(failed)}")
            return {step: counts or {} for step, counts in results.items()}

        report(outputs)

    return sync()


for _manifest in load_registry().values():
    globals()[f"{_manifest.name}_sync"] = build_sync_dag(_manifest)
