"""The gateway command: database, demo data, status and the dead-letter commands."""

from __future__ import annotations

import json

from sqlalchemy import select

from gateway.cli import main
from gateway.errors import PermanentError
from gateway.models import DeadLetter, Dispatch, Request
from gateway.sync import states
from gateway.sync.engine import run_step
from tests.fakes import FakeUtility
from tests.sync_helpers import dispatch_of, fake_context, register


def test_demo_data_follows_the_city_proportions(database_url, sessions, capsys):
    assert main(["--database", database_url, "demo-data", "--count", "400", "--seed", "7"]) == 0
    assert "registered 400 requests" in capsys.readouterr().out
    with sessions() as session:
        requests = session.scalars(select(Request)).all()
        housing = sum(r.item.section_code in {"3", "4", "32"} for r in requests) / len(requests)
        phone = sum(r.channel == "phone" for r in requests) / len(requests)
        assert 0.45 < housing < 0.65  # housing and communal services: over half
        assert 0.8 < phone < 0.94  # 87 % by phone
        assert len({r.street for r in requests}) > 15
        assert all(r.deadline_at > r.registered_at for r in requests)


def _dead_letter(sessions) -> tuple[FakeUtility, str, int]:
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    number = register(sessions, contact_phone="+380671234567")
    utility.failures_by_reference[number] = PermanentError("422: address.house must not be empty")
    run_step(ctx, "push_jobs")
    with sessions() as session:
        letter_id = session.scalars(select(DeadLetter.id)).one()
    return utility, number, letter_id


def test_dlq_list_show_retry_discard(database_url, sessions, capsys):
    utility, number, letter_id = _dead_letter(sessions)
    assert main(["--database", database_url, "dlq", "list"]) == 0
    listed = capsys.readouterr().out
    assert number in listed and "permanent" in listed and "address.house" in listed

    assert main(["--database", database_url, "dlq", "show", str(letter_id)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["item"] == number and shown["utility"] == "fakeutil" and shown["error_class"] == "permanent"
    assert "+380671234567" not in json.dumps(shown)

    assert main(["--database", database_url, "dlq", "retry", str(letter_id)]) == 0
    assert main(["--database", database_url, "dlq", "retry", str(letter_id)]) == 0  # idempotent
    assert "already retried" in capsys.readouterr().out
    with sessions() as session:
        assert dispatch_of(session, number).state == states.UNKNOWN  # looks up before it creates again
    del utility.failures_by_reference[number]
    run_step(fake_context(sessions, utility), "push_jobs")
    assert len(utility.jobs_for(number)) == 1

    assert main(["--database", database_url, "dlq", "discard", str(letter_id), "--reason", "test"]) == 0
    with sessions() as session:
        assert session.get(DeadLetter, letter_id).state == "discarded"
    assert main(["--database", database_url, "dlq", "show", "999999"]) == 2


def test_status_shows_pending_and_dead_lettered(database_url, sessions, capsys):
    _, number, _ = _dead_letter(sessions)
    register(sessions, house="99")
    from collections import Counter

    from gateway.sync.push import enqueue_new_requests

    enqueue_new_requests(fake_context(sessions), Counter())
    assert main(["--database", database_url, "status"]) == 0
    out = capsys.readouterr().out
    assert "fakeutil" in out and "pending" in out and "dead" in out and number in out
    with sessions() as session:
        assert {d.state for d in session.scalars(select(Dispatch))} == {"pending", "dead"}


def test_registry_lists_every_connector(capsys):
    assert main(["registry"]) == 0
    out = capsys.readouterr().out
    for name in ("vodokanal", "teplotsentral", "ecospectrans"):
        assert name in out


def test_late_notices_are_counted_per_utility(database_url, sessions, capsys):
    from datetime import timedelta

    from gateway.connector import PlannedWork
    from gateway.db import utcnow

    now = utcnow()
    works = [
        PlannedWork(notice_id=str(n), revision=1, kind="planned", service="cold_water", announced_at=now,
                    starts_at=now + timedelta(days=days), ends_at=now + timedelta(days=days, hours=8))
        for n, days in enumerate([2, 3, 30])
    ]
    run_step(fake_context(sessions, FakeUtility(works=works)), "pull_planned_works")
    assert main(["--database", database_url, "late-notices"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split() for line in out if line.startswith("fakeutil")] == [["fakeutil", "3", "2"]]


def test_exports_from_the_database_parse_back_and_carry_no_resident_data(database_url, sessions, capsys):
    import icalendar

    from gateway.connector import PlannedWork
    from gateway.db import utcnow

    now = utcnow()
    ctx = fake_context(sessions, FakeUtility(works=[PlannedWork(
        notice_id="PW-7", revision=1, kind="planned", service="cold_water", starts_at=now,
        ends_at=None, announced_at=now)]))
    number = register(sessions, contact_phone="+380671234567", flat="12")
    run_step(ctx, "pull_planned_works")
    run_step(ctx, "push_jobs")
    assert main(["--database", database_url, "export", "requests-open311"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["service_request_id"] == number and row["service_code"] == "3.1"
    assert row["status_notes"] == "передано виконавцю"  # the sync's note names the job id: never published
    assert "J1" not in json.dumps(row) and "380671234567" not in json.dumps(row)
    assert main(["--database", database_url, "export", "announcements", "--format", "ical"]) == 0
    (event,) = icalendar.Calendar.from_ical(capsys.readouterr().out).walk("VEVENT")
    assert str(event["UID"]).startswith("fakeutil-PW-7@")


def test_help_lists_every_command_group_through_typers_runner():
    from typer.testing import CliRunner

    from gateway.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("db", "load", "demo-data", "sync", "status", "dlq", "late-notices", "registry", "export"):
        assert command in result.output


def test_an_unmigrated_or_missing_database_gets_a_sentence_not_a_traceback(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    assert main(["--database", f"sqlite:///{empty}", "status"]) == 2
    assert "run `gateway db upgrade`" in capsys.readouterr().err
    assert main(["--database", f"sqlite:///{tmp_path}/no/such/dir/x.db", "dlq", "list"]) == 2
    err = capsys.readouterr().err
    assert "cannot be opened" in err and "Traceback" not in err


def test_a_usage_error_names_the_bad_value(capsys):
    assert main(["export", "everything"]) == 2
    assert "everything" in capsys.readouterr().err
