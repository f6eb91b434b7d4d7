"""The department's executor reports (decision №329, items 6.2 and 6.3): weekly on Monday for the
Monday–Sunday week before, monthly on the 1st for the month before (Kyiv time). Each run writes the
report folder ($GATEWAY_REPORTS_DIR, else AIRFLOW_HOME/reports: HTML with the chart, CSV, a notice per
executor, the letters) and e-mails the letters when the SMTP connection (GATEWAY_SMTP_CONN_ID, default
smtp_default) exists. A manual run may name its own period: conf {"from": "YYYY-MM-DD", "to":
"YYYY-MM-DD"}. Parsing touches no database.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

from gateway.schedules import shortest_gap, task_defaults

START = pendulum.datetime(2026, 1, 1, tz="Europe/Kyiv")
SCHEDULES = {"weekly": "0 8 * * 1", "monthly": "0 8 1 * *"}  # 08:00 Kyiv, Monday / the 1st


def _database_url() -> str:
    if url := os.environ.get("GATEWAY_DATABASE_URL"):
        return url
    from airflow.sdk import BaseHook

    return BaseHook.get_connection("contact_centre_db").get_uri()


def _smtp():  # -> gateway.reports.delivery.SmtpSettings | None
    """The SMTP connection as Airflow knows it (its metadata database, secrets backend or environment)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from gateway.reports.delivery import SmtpSettings, smtp_conn_id

    conn_id = smtp_conn_id()
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        print(f"no SMTP connection {conn_id!r}: the letters are only written to the reports folder")
        return None
    return SmtpSettings.from_fields(conn_id, host=conn.host, port=conn.port, login=conn.login,
                                    password=conn.password, extra=conn.extra_dejson)


def _reports_folder() -> str:
    """$GATEWAY_REPORTS_DIR, else reports/ in AIRFLOW_HOME (a task's working directory is not stable)."""
    return os.environ.get("GATEWAY_REPORTS_DIR") or os.path.join(os.environ.get("AIRFLOW_HOME", "."), "reports")


def build_report_dag(kind: str):  # -> airflow.sdk.DAG
    @dag(
        dag_id=f"executor_report_{kind}",
        description=f"Contact centre 1520: {kind} report on executors",
        schedule=SCHEDULES[kind],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["gateway", "reports"],
        default_args=task_defaults(SCHEDULES[kind], owner="zvernennia"),
        dagrun_timeout=min(shortest_gap(SCHEDULES[kind]) * 0.9, timedelta(hours=2)),
        doc_md=__doc__,
    )
    def report():
        @task(task_id="write_and_send")
        def write_and_send() -> dict[str, object]:
            from datetime import date

            from gateway.db import make_engine, session_factory, utcnow
            from gateway.reports import periods
            from gateway.reports.build import write_report

            context = get_current_context()
            conf = (context.get("dag_run").conf if context.get("dag_run") else None) or {}
            moment = context.get("logical_date") or utcnow()
            if conf.get("from") and conf.get("to"):
                period = periods.days(date.fromisoformat(conf["from"]), date.fromisoformat(conf["to"]), kind)
            else:
                period = periods.previous_month(moment) if kind == "monthly" else periods.previous_week(moment)
            engine = make_engine(_database_url())
            try:
                with session_factory(engine)() as session:
                    files = write_report(session, period, utcnow(), _reports_folder(), smtp=_smtp())
            finally:
                engine.dispose()
            print(f"{kind} report {period.label_uk()}: {files.html}; {len(files.outbox)} letters written, "
                  f"{files.sent} sent")
            return {"folder": str(files.folder), "letters": len(files.outbox), "sent": files.sent}

        write_and_send()

    return report()


executor_report_weekly = build_report_dag("weekly")
executor_report_monthly = build_report_dag("monthly")
