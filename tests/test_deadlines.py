"""Deadline arithmetic (hours across both 2026 clock changes, working days across weekends and public
holidays), the one extension, the planned-works rule on the same calendar, and the overdue mark:
once per request, also when two monitor runs race in two processes."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from gateway.db import make_engine, session_factory
from gateway.deadlines import (
    DeadlineError,
    deadline_for,
    default_rules,
    effective_deadline,
    extend_deadline,
    load_rules,
)
from gateway.errors import ConfigError
from gateway.models import Request, RequestHistory
from gateway.reference_data import items_by_code
from gateway.reports.models import DeadlineSnapshot
from gateway.reports.overdue import mark_overdue, run_monitor
from gateway.statuses import RequestStatus
from gateway.workdays import is_late_notice, working_days_between

KYIV = ZoneInfo("Europe/Kyiv")
RULES_FILE = Path(__file__).resolve().parent.parent / "gateway" / "data" / "deadlines.yaml"


def kyiv(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=KYIV, fold=fold)


def in_hours(urgency: str, registered: datetime) -> datetime:
    return default_rules().deadline("any-item", urgency, registered)


# --- hours: elapsed time, through the clock changes -------------------------------------------------

def test_two_hours_across_the_spring_clock_change():
    # 29.03.2026 03:00 EET becomes 04:00 EEST: 02:30 + 2 h of real time is 05:30 on the wall clock
    registered = kyiv(2026, 3, 29, 2, 30)
    assert in_hours("urgent_emergency", registered) == kyiv(2026, 3, 29, 5, 30)
    assert in_hours("urgent_emergency", registered) - registered.astimezone(UTC) == timedelta(hours=2)


def test_two_hours_across_the_autumn_clock_change():
    # 25.10.2026 04:00 EEST becomes 03:00 EET: 03:30 (the first, summer one) + 2 h is 04:30 winter time
    registered = kyiv(2026, 10, 25, 3, 30, fold=0)
    assert registered.utcoffset() == timedelta(hours=3)
    assert in_hours("urgent_emergency", registered) == kyiv(2026, 10, 25, 4, 30)
    assert in_hours("urgent_emergency", registered).astimezone(KYIV).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(("registered", "expected"), [
    (kyiv(2026, 3, 28, 12, 0), kyiv(2026, 3, 29, 13, 0)),  # the 23-hour day: 24 h later reads 13:00
    (kyiv(2026, 10, 24, 12, 0), kyiv(2026, 10, 25, 11, 0)),  # the 25-hour day: 24 h later reads 11:00
])
def test_a_day_of_emergency_is_24_real_hours_across_both_changes(registered, expected):
    assert in_hours("emergency", registered) == expected


# --- working days: weekends, holidays, Kyiv midnight ------------------------------------------------

@pytest.mark.parametrize("registered", [
    kyiv(2026, 11, 27, 15, 0),  # Friday afternoon
    kyiv(2026, 11, 28, 9, 0),  # Saturday
    kyiv(2026, 11, 29, 23, 59),  # Sunday, a minute before midnight
    datetime(2026, 11, 29, 21, 59, tzinfo=UTC),  # the same Sunday minute given in UTC
])
def test_five_working_days_skip_the_weekend_and_end_at_kyiv_midnight(registered):
    # Mon 30.11 .. Fri 04.12 are the five working days; the deadline is 24:00 Kyiv on Friday
    assert in_hours("ordinary", registered) == kyiv(2026, 12, 5, 0, 0)
    assert in_hours("ordinary", registered) == datetime(2026, 12, 4, 22, 0, tzinfo=UTC)


def test_registered_on_monday_after_midnight_kyiv_counts_from_tuesday():
    # 23:30 UTC on Sunday is already Monday 01:30 in Kyiv: Tue..Mon
    assert in_hours("ordinary", datetime(2026, 11, 29, 23, 30, tzinfo=UTC)) == kyiv(2026, 12, 8, 0, 0)


@pytest.mark.parametrize(("registered", "expected_utc"), [
    (kyiv(2026, 3, 27, 10, 0), datetime(2026, 4, 3, 21, 0, tzinfo=UTC)),  # ends in summer time (UTC+3)
    (kyiv(2026, 10, 23, 10, 0), datetime(2026, 10, 30, 22, 0, tzinfo=UTC)),  # ends in winter time (UTC+2)
])
def test_working_days_across_the_clock_changes_end_at_local_midnight(registered, expected_utc):
    assert in_hours("ordinary", registered) == expected_utc


def test_a_public_holiday_is_not_a_working_day():
    # 28.06.2021, Monday: Constitution Day (before martial law, a day off): Tue 29.06 .. Mon 05.07
    assert date(2021, 6, 28) in default_rules().calendar.days_off(2021)
    assert in_hours("ordinary", kyiv(2021, 6, 25, 12, 0)) == kyiv(2021, 7, 6, 0, 0)


def test_under_martial_law_holidays_are_working_days_unless_the_data_says_otherwise(tmp_path):
    # 24.08.2026 (Monday), Independence Day: a working day under Law 2136-IX, as the library models it
    registered = kyiv(2026, 8, 21, 12, 0)
    assert in_hours("ordinary", registered) == kyiv(2026, 8, 29, 0, 0)
    text = RULES_FILE.read_text(encoding="utf-8").replace("categories: [public]", "categories: [public, workday]")
    (tmp_path / "deadlines.yaml").write_text(text, encoding="utf-8")
    rules = load_rules(tmp_path / "deadlines.yaml")
    assert rules.deadline("any", "ordinary", registered) == kyiv(2026, 9, 1, 0, 0)


def test_an_item_rule_takes_precedence_over_its_urgency_class():
    rules = default_rules()
    registered = kyiv(2026, 11, 30, 10, 0)
    assert rules.deadline("housing-subsidy", "ordinary", registered) == kyiv(2026, 12, 15, 0, 0)  # 10 working days
    assert rules.deadline("home-care", "ordinary", registered) == kyiv(2026, 12, 8, 0, 0)


def test_sos_and_emergency_items_are_the_hourly_ones():
    keys = default_rules().hourly_item_keys()
    assert {"sos-no-water-building", "open-manhole", "no-cold-water-building"} <= keys
    assert "yard-cleaning" not in keys and "housing-subsidy" not in keys


@pytest.mark.parametrize(("old", "new", "message"), [
    ("ordinary: {working_days: 5}", "ordinary: {working_days: 5, hours: 3}", "is {hours: N} or {working_days: N}"),
    ("ordinary: {working_days: 5}", "ordinary: {working_days: -1}", "positive whole number"),
    ("ordinary: {working_days: 5}", "regular: {working_days: 5}", "no rule for urgency class(es) ordinary"),
    ("housing-subsidy:", "housing-subsidyy:", "unknown classifier item key(s) housing-subsidyy"),
    ("country: UA", "country: XX", "calendar or timezone cannot be used"),
])
def test_a_bad_rules_file_is_refused_naming_the_file_and_the_entry(tmp_path, old, new, message):
    path = tmp_path / "deadlines.yaml"
    path.write_text(RULES_FILE.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"deadlines\.yaml") as caught:
        load_rules(path)
    assert message in str(caught.value)


# --- the planned-works rule uses the same calendar --------------------------------------------------

def test_the_late_notice_rule_counts_on_the_same_calendar():
    # Announced Monday 14.06.2021 for Monday 28.06.2021: 10 weekdays, but 21.06 (Trinity, observed) is off
    announced, starts = kyiv(2021, 6, 14, 10, 0), kyiv(2021, 6, 28, 10, 0)
    assert working_days_between(date(2021, 6, 14), date(2021, 6, 28)) == 9
    assert is_late_notice(announced, starts, "planned") is True
    assert is_late_notice(announced, starts, "planned", holidays=frozenset()) is False  # a caller's own set wins
    assert working_days_between(date(2026, 11, 30), date(2026, 12, 14)) == 10


# --- the extension and the overdue mark, in the database --------------------------------------------

def _request(session, number: str, code: str, registered: datetime, status: str = RequestStatus.REGISTERED,
             deadline: datetime | None = None) -> Request:
    item = items_by_code(session)[code]
    request = Request(number=number, registered_at=registered, channel="phone", classifier_item_id=item.id,
                      street="вул. Соборності", house="1", description="тест", executor_id=item.default_executor_id,
                      status=status, deadline_at=deadline or deadline_for(item, registered), updated_at=registered)
    session.add(request)
    session.flush()
    return request


def test_one_extension_with_who_when_why_then_overdue_against_the_new_deadline(sessions):
    registered = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with sessions.begin() as session:
        request = _request(session, "T-1", "3.8", registered)  # water-pipe-repair: 10 working days
        assert request.deadline_at == kyiv(2026, 12, 15, 0, 0)
        request.deadline_at = registered + timedelta(hours=24)  # as if registered under an older rule
        extend_deadline(session, request, kyiv(2026, 12, 4, 18, 0), by="operator:koval", reason="потрібна техніка",
                        at=registered + timedelta(hours=3))
        with pytest.raises(DeadlineError, match="extended once"):
            extend_deadline(session, request, kyiv(2026, 12, 10, 18, 0), by="operator:koval", reason="ще раз",
                            at=registered + timedelta(hours=4))
    with sessions.begin() as session:
        request = session.scalars(select(Request).where(Request.number == "T-1")).one()
        assert effective_deadline(request) == kyiv(2026, 12, 4, 18, 0)
        assert (request.extended_by, request.extension_reason) == ("operator:koval", "потрібна техніка")
        assert request.extended_at == registered + timedelta(hours=3)
        row = session.scalars(select(RequestHistory).where(RequestHistory.field == "deadline")).one()
        assert row.actor == "operator:koval" and "потрібна техніка" in row.note
        # past the old deadline, not the new one: not overdue
        assert mark_overdue(session, registered + timedelta(hours=30)) == []
        assert [r.number for r in mark_overdue(session, kyiv(2026, 12, 4, 18, 1))] == ["T-1"]


@pytest.mark.parametrize(("new_deadline", "reason", "message"), [
    (datetime(2026, 11, 30, 9, 0, tzinfo=UTC), "так треба", "not later than the current one"),
    (datetime(2026, 12, 30, 9, 0, tzinfo=UTC), "  ", "needs a reason"),
    (datetime(2026, 12, 30, 9, 0), "так треба", "has no time zone"),
])
def test_an_extension_that_is_not_later_or_has_no_reason_is_refused(sessions, new_deadline, reason, message):
    with sessions.begin() as session:
        request = _request(session, "T-2", "1.1", datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
        with pytest.raises(DeadlineError, match=message):
            extend_deadline(session, request, new_deadline, by="operator:x", reason=reason,
                            at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
        assert request.extended_deadline_at is None


def test_the_monitor_marks_each_overdue_request_once_and_keeps_snapshots(sessions):
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with sessions.begin() as session:
        _request(session, "U-1", "32.2", t0)  # SOS, 2 h
        _request(session, "U-2", "3.1", t0)  # emergency, 24 h
        _request(session, "O-1", "1.1", t0)  # ordinary, working days
        _request(session, "D-1", "32.2", t0, status=RequestStatus.DONE)  # done: never overdue
    with sessions.begin() as session:
        urgent = run_monitor(session, t0 + timedelta(hours=3), "urgent")
        assert (urgent.open_requests, urgent.overdue, urgent.newly_overdue) == (2, 1, 1)
        again = run_monitor(session, t0 + timedelta(hours=30), "urgent")
        assert (again.overdue, again.newly_overdue) == (2, 1)
        city = run_monitor(session, t0 + timedelta(days=30), "city")
        assert (city.open_requests, city.overdue, city.newly_overdue) == (3, 3, 1)
        assert run_monitor(session, t0 + timedelta(days=31), "city").newly_overdue == 0
    with sessions() as session:
        rows = session.execute(select(Request.number, func.count()).join(RequestHistory)
                               .where(RequestHistory.field == "overdue").group_by(Request.number)).all()
        assert dict(rows) == {"U-1": 1, "U-2": 1, "O-1": 1}
        snapshot = session.scalars(select(DeadlineSnapshot).order_by(DeadlineSnapshot.id.desc())).first()
        assert snapshot.scope == "city" and snapshot.by_executor["vodokanal"] == {"open": 2, "overdue": 2}


def _race(url: str, barrier, now: datetime, queue) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    barrier.wait()
    with sessions.begin() as session:
        queue.put(len(mark_overdue(session, now)))
    engine.dispose()


def test_two_monitor_runs_at_once_in_two_processes_mark_each_request_once(database_url, sessions):
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with sessions.begin() as session:
        for n in range(40):
            _request(session, f"R-{n}", "32.2", t0 + timedelta(minutes=n))
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_race, args=(database_url, barrier, t0 + timedelta(days=1), queue))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    marked = [queue.get(timeout=5) for _ in workers]
    assert sum(marked) == 40
    with sessions() as session:
        per_request = session.execute(select(RequestHistory.request_id, func.count())
                                      .where(RequestHistory.field == "overdue").group_by(RequestHistory.request_id))
        assert sorted(c for _, c in per_request) == [1] * 40
