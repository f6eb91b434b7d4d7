"""The deadline monitor and the weekly executor report run through Airflow (dag.test) against a
PostgreSQL contact-centre database holding a generated week, and the report's letters reach a real
SMTP server on loopback through the Airflow SMTP connection."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import select

from gateway.db import make_engine, session_factory, utcnow
from gateway.models import Request, RequestHistory
from gateway.reports.models import DeadlineSnapshot
from tests.reports_week import CLOSED_STATUSES, plan_week, write_notices, write_week
from tests.test_reports_delivery import Inbox, LoopbackController

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert bag.import_errors == {}
    return bag


def test_monitor_and_weekly_report_dags(dagbag, pg_url, tmp_path, monkeypatch):
    plans = plan_week(seed=7)
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        write_week(session, plans)
        write_notices(session)
    inbox = Inbox()
    smtp = LoopbackController(inbox, hostname="127.0.0.1", port=0)
    smtp.start()
    try:
        monkeypatch.setenv("GATEWAY_DATABASE_URL", pg_url)
        monkeypatch.setenv("GATEWAY_REPORTS_DIR", str(tmp_path / "reports"))
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp.port,
             "extra": {"disable_ssl": True, "disable_tls": True}}))

        before = utcnow()
        assert str(dagbag.get_dag("deadline_monitor").test().state) == "success"
        after = utcnow()
        open_plans = [p for p in plans if p.events[-1][1] not in CLOSED_STATUSES]
        surely = {p.number for p in open_plans if (p.extended_to or p.deadline_at) < before}
        maybe = {p.number for p in open_plans if (p.extended_to or p.deadline_at) < after}
        with sessions() as session:
            marked = set(session.scalars(select(Request.number).join(RequestHistory)
                                         .where(RequestHistory.field == "overdue")))
            snapshot = session.scalars(select(DeadlineSnapshot)).one()
        assert surely and surely <= marked <= maybe
        assert (snapshot.scope, snapshot.newly_overdue) == ("city", len(marked))

        assert str(dagbag.get_dag("deadline_monitor_urgent").test().state) == "success"
        with sessions() as session:
            urgent = session.scalars(select(DeadlineSnapshot).where(DeadlineSnapshot.scope == "urgent")).one()
        assert urgent.newly_overdue == 0 and 0 < urgent.overdue <= snapshot.overdue  # marked once, by the first

        run = dagbag.get_dag("executor_report_weekly").test(run_conf={"from": "2026-11-23", "to": "2026-11-29"})
        assert str(run.state) == "success"
        folder = tmp_path / "reports" / "weekly-2026-11-23_2026-11-29"
        assert {"report.html", "executors.csv", "repeat-requests.csv", "notices", "outbox"} <= \
               {p.name for p in folder.iterdir()}
        letters = sorted((folder / "outbox").glob("*.eml"))
        assert len(inbox.received) == len(letters) > 20

        monthly = dagbag.get_dag("executor_report_monthly").test(run_conf={"from": "2026-11-01", "to": "2026-11-30"})
        assert str(monthly.state) == "success"
        html = (tmp_path / "reports" / "monthly-2026-11-01_2026-11-30" / "report.html").read_text(encoding="utf-8")
        assert "Місячний звіт" in html
    finally:
        smtp.stop()
        engine.dispose()
