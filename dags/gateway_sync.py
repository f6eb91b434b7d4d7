"""One sync DAG per registered utility connector, built from the manifests in connectors/.

Parsing reads YAML manifests only: no network, no database, no connector import. Each task resolves
the utility's Airflow Connection, runs one sync step in plain Python (gateway.runner) and returns its
counts; the last task reports what moved and fails the run if any step failed.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from gateway.registry import Manifest, load_registry

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


def build_sync_dag(manifest: Manifest):  # -> airflow.sdk.DAG
    @dag(
        dag_id=f"{manifest.name}_sync",
        description=f"Contact centre 1520 <-> {manifest.title}",
        schedule=manifest.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["gateway", manifest.name, *manifest.tags],
        default_args={
            "owner": manifest.owner,
            "pool": manifest.pool,
            "retries": 2,
            "retry_delay": timedelta(minutes=1),
            "retry_exponential_backoff": True,
            "execution_timeout": timedelta(minutes=30),
        },
        doc_md=__doc__,
    )
    def sync():
        outputs = {}
        previous = None
        for step in manifest.steps:

            @task(task_id=step, trigger_rule="all_done")
            def run_step(step_name: str = step) -> dict[str, int]:
                from gateway.runner import run_sync_steps

                counts = run_sync_steps(manifest.name, [step_name], _connection(manifest.conn_id), _database_url())
                return counts[step_name]

            outputs[step] = run_step()
            if previous is not None:
                previous >> outputs[step]
            previous = outputs[step]

        @task(task_id="report", trigger_rule="all_done", retries=0)
        def report(results: dict[str, dict[str, int] | None]) -> dict[str, dict[str, int]]:
            failed = [step for step, counts in results.items() if counts is None]
            for step, counts in results.items():
                if counts and counts.get("circuit_open"):
                    print(f"{manifest.name} {step}: CIRCUIT OPEN - the utility was not called (gw_circuit_breakers)")
                else:
                    print(f"{manifest.name} {step}: {counts if counts is not None else 'FAILED'}")
            if failed:
                raise RuntimeError(f"{manifest.name}: step(s) failed: {', '.join(failed)}")
            return {step: counts or {} for step, counts in results.items()}

        report(outputs)

    return sync()


for _manifest in load_registry().values():
    globals()[f"{_manifest.name}_sync"] = build_sync_dag(_manifest)
