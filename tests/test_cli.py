"""The gateway command: database, demo data, status and the dead-letter commands."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update

from gateway.classifier import default_classifier
from gateway.cli import main
from gateway.errors import PermanentError, RetriableError
from gateway.models import DeadLetter, Dispatch, Request, SyncRun
from gateway.sync import states
from gateway.sync.engine import run_step
from gateway.sync.push import enqueue_new_requests
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


def _known_work(sessions) -> dict[str, str]:
    """fakeutil with one request pushed and its status pulled (good runs), then: one request refused
    for good (a dead letter), one on an item the mapping does not serve, one still pending, and the
    status pull failing until the breaker opens."""
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    register(sessions, house="1")
    run_step(ctx, "push_jobs")
    run_step(ctx, "pull_status_changes")
    refused = register(sessions, house="2", contact_phone="+380671234567")
    utility.failures_by_reference[refused] = PermanentError("422: address.house must not be empty")
    unmapped = register(sessions, "3.3", house="3")  # 3.3 is not in tests/data/fake_mapping.yaml
    run_step(ctx, "push_jobs")
    pending = register(sessions, house="4")
    enqueue_new_requests(ctx, Counter())

    def down(cursor, limit):
        raise RetriableError("connection refused")

    ctx.connector.fetch_changes = down
    failed_runs = 0
    while True:  # the breaker counts failed calls (each retry is one); it opens within a few failed runs
        try:
            outcome = run_step(ctx, "pull_status_changes")
        except RetriableError:
            failed_runs += 1
            continue
        assert outcome == {"circuit_open": 1}  # skipped: not a good pull
        break
    assert failed_runs >= 1
    return {"refused": refused, "unmapped": unmapped, "pending": pending, "failed_runs": failed_runs}


def _status_json(database_url, capsys) -> tuple[int, dict]:
    code = main(["--database", database_url, "status", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_status_is_quiet_and_exits_0_while_the_gateway_copes(database_url, sessions, capsys):
    ctx = fake_context(sessions, FakeUtility())
    register(sessions)
    run_step(ctx, "push_jobs")
    run_step(ctx, "pull_status_changes")
    code, body = _status_json(database_url, capsys)
    assert code == 0 and body["needs_person"] is False
    row = next(u for u in body["utilities"] if u["utility"] == "fakeutil")
    assert row["pending"] == 0 and row["dead_letters"] == 0 and row["breaker"] == "closed"
    assert row["last_good_push"] and row["last_good_pull"] and row["status_lag_s"] < 600
    assert {u["utility"] for u in body["utilities"]} >= {"fakeutil", "vodokanal", "teplotsentral", "ecospectrans"}
    assert main(["--database", database_url, "status"]) == 0
    assert "no open dead letters" in capsys.readouterr().out


def test_status_counts_pending_failed_and_dead_lettered_work_and_asks_for_a_person(database_url, sessions, capsys):
    work = _known_work(sessions)
    code, body = _status_json(database_url, capsys)
    assert code == 1 and body["needs_person"] is True
    row = next(u for u in body["utilities"] if u["utility"] == "fakeutil")
    assert row["pending"] == 1
    assert row["dead_letters"] == 2 and row["unmapped"] == 1
    assert row["failures_24h"] == work["failed_runs"] and row["breaker"] == "open"
    with sessions() as session:
        good_pull = session.scalars(select(SyncRun.finished_at).where(
            SyncRun.step == "pull_status_changes", SyncRun.outcome == "ok").order_by(SyncRun.id)).first()
    assert row["last_good_pull"] == good_pull.isoformat()  # the run the open breaker skipped does not count
    reasons = " | ".join(row["reasons"])
    assert "2 open dead letter(s)" in reasons and "mapping does not serve" in reasons and "breaker open" in reasons
    assert "+380671234567" not in json.dumps(body)
    others = [u for u in body["utilities"] if u["utility"] != "fakeutil"]
    assert others and not any(u["needs_person"] for u in others)

    assert main(["--database", database_url, "status"]) == 1
    out = capsys.readouterr().out
    assert "NEEDS A PERSON" in out and work["refused"] in out and work["unmapped"] in out
    assert "fakeutil: circuit breaker open" in out


def test_status_calls_a_request_stale_after_three_schedules(database_url, sessions, capsys):
    from gateway.db import utcnow

    ctx = fake_context(sessions, FakeUtility())
    register(sessions)
    enqueue_new_requests(ctx, Counter())
    code, body = _status_json(database_url, capsys)
    row = next(u for u in body["utilities"] if u["utility"] == "fakeutil")
    assert code == 0 and row["pending"] == 1 and row["stale_after_s"] == 1800  # 3 x the default 10 min
    with sessions.begin() as session:
        session.execute(update(Dispatch).values(created_at=utcnow() - timedelta(minutes=31)))
    code, body = _status_json(database_url, capsys)
    row = next(u for u in body["utilities"] if u["utility"] == "fakeutil")
    assert code == 1 and row["oldest_pending_age_s"] > 1800
    assert any("has waited 31 min" in r for r in row["reasons"])


def test_metrics_expose_the_same_figures_in_prometheus_format(database_url, sessions, capsys):
    from prometheus_client.parser import text_string_to_metric_families

    work = _known_work(sessions)
    assert main(["--database", database_url, "metrics"]) == 0
    families = {f.name: f for f in text_string_to_metric_families(capsys.readouterr().out)}

    def value(name, utility="fakeutil", **labels):
        family = families[name]
        (sample,) = [s for s in family.samples if s.labels.get("utility") == utility
                     and all(s.labels.get(k) == v for k, v in labels.items())]
        return sample.value

    assert value("gateway_pending_requests") == 1
    assert value("gateway_dead_letters_open") == 2 and value("gateway_unmapped_requests") == 1
    assert value("gateway_sync_failures_24h") == work["failed_runs"] and value("gateway_needs_person") == 1
    assert value("gateway_circuit_breaker_state", gateway_circuit_breaker_state="open") == 1
    assert value("gateway_circuit_breaker_state", gateway_circuit_breaker_state="closed") == 0
    assert value("gateway_last_good_push_timestamp_seconds") > 1.7e9
    assert value("gateway_pending_requests", utility="vodokanal") == 0
    assert value("gateway_needs_person", utility="vodokanal") == 0


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
    code = default_classifier().current.by_key("no-cold-water-building").code
    assert row["service_request_id"] == number and row["service_code"] == code
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
    for command in ("db", "load", "demo-data", "sync", "status", "metrics", "dlq", "late-notices", "registry",
                    "export"):
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
