"""The deadline monitor (decision №329, item 6.1): daily for the whole city, hourly for emergency and
SOS items. Each run marks the requests that became overdue (one history row each, once) and records
a snapshot in gw_deadline_snapshots. Parsing imports nothing that touches the database.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from gateway.schedules import shortest_gap, task_defaults

START = pendulum.datetime(2026, 1, 1, tz="Europe/Kyiv")
SCHEDULES = {"city": "0 7 * * *", "urgent": "10 * * * *"}  # 07:00 Kyiv daily; every hour at :10


def _database_url() -> str:
    if url := os.environ.get("GATEWAY_DATABASE_URL"):
        return url
    from airflow.sdk import BaseHook

    return BaseHook.get_connection("contact_centre_db").get_uri()


def build_monitor_dag(scope: str):  # -> airflow.sdk.DAG
    @dag(
        dag_id="deadline_monitor" if scope == "city" else f"deadline_monitor_{scope}",
        description=f"Contact centre 1520: overdue requests ({scope})",
        schedule=SCHEDULES[scope],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["gateway", "deadlines", "reports"],
        default_args=task_defaults(SCHEDULES[scope], owner="zvernennia"),
        dagrun_timeout=min(shortest_gap(SCHEDULES[scope]) * 0.9, timedelta(hours=2)),
        doc_md=__doc__,
    )
    def monitor():
        @task(task_id="mark_overdue")
        def mark_overdue() -> dict[str, int]:
            from gateway.db import make_engine, session_factory, utcnow
            from gateway.reports.overdue import run_monitor

            engine = make_engine(_database_url())
            try:
                with session_factory(engine).begin() as session:
                    result = run_monitor(session, utcnow(), scope)
            finally:
                engine.dispose()
            print(f"{scope}: open {result.open_requests}, overdue {result.overdue}, newly overdue "
                  f"{result.newly_overdue} (snapshot {result.snapshot_id})")
            return {"open": result.open_requests, "overdue": result.overdue, "newly_overdue": result.newly_overdue}

        mark_overdue()

    return monitor()


deadline_monitor = build_monitor_dag("city")
deadline_monitor_urgent = build_monitor_dag("urgent")
