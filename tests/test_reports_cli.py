"""`gateway report` and `gateway deadlines`: what the department types, and the errors it gets."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.cli import main
from gateway.models import Request, RequestHistory
from tests.reports_week import plan_week, write_notices, write_week


@pytest.fixture
def week_db(database_url, sessions):
    with sessions.begin() as session:
        write_week(session, plan_week())
        write_notices(session)
    return database_url


def test_report_for_a_week_writes_the_folder(week_db, tmp_path, capsys):
    assert main(["--database", week_db, "report", "--from", "2026-11-23", "--to", "2026-11-29",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "weekly-2026-11-23_2026-11-29"
    assert str(folder / "report.html") in out and "vodokanal" in out
    assert (folder / "notices" / "dri.html").exists() and (folder / "executors.csv").exists()
    assert main(["--database", week_db, "report", "--from", "2026-11-01", "--to", "2026-11-30", "--monthly",
                 "--out", str(tmp_path)]) == 0
    assert "Місячний звіт" in (tmp_path / "monthly-2026-11-01_2026-11-30" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-11-31", "--to", "2026-12-06"], "--from: '2026-11-31' is not a date"),
    (["--from", "2026-11-30"], "give both --from and --to"),
    (["--from", "2026-12-06", "--to", "2026-11-30"], "ends (2026-11-30) before it begins"),
    (["--from", "2026-11-30", "--to", "2026-12-06", "--send"], "no SMTP connection"),
])
def test_report_refuses_a_bad_period_with_a_sentence(week_db, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    assert main(["--database", week_db, "report", *args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_deadlines_check_overdue_and_one_extension(week_db, sessions, capsys):
    assert main(["--database", week_db, "deadlines", "check"]) == 0
    assert "newly overdue" in capsys.readouterr().out
    assert main(["--database", week_db, "deadlines", "overdue", "--executor", "dri"]) == 0
    listed = capsys.readouterr().out
    with sessions() as session:
        number = session.scalars(select(Request.number).where(Request.executor_id == "dri",
                                                              Request.extended_deadline_at.is_(None),
                                                              Request.overdue_at.is_not(None))).first()
    assert number in listed
    extend = ["--database", week_db, "deadlines", "extend", number, "--until", "2027-01-15 18:00",
              "--by", "operator:koval", "--reason", "очікуємо матеріали"]
    assert main(extend) == 0
    assert main(extend) == 2
    assert "a deadline is extended once" in capsys.readouterr().err
    with sessions() as session:
        request = session.scalars(select(Request).where(Request.number == number)).one()
        assert request.extended_by == "operator:koval" and request.overdue_at is None
        assert session.scalars(select(RequestHistory).where(RequestHistory.request_id == request.id,
                                                            RequestHistory.field == "deadline")).one()
    assert main(["--database", week_db, "deadlines", "rules"]) == 0
    assert "робочих днів" in capsys.readouterr().out
