"""Working days and the 10-working-day rule for planned interruptions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.workdays import is_late_notice, kyiv_date, working_days_between

KYIV = ZoneInfo("Europe/Kyiv")
D = date
# 2026-12-01 is a Tuesday; 2026-11-30 a Monday.
MON = D(2026, 11, 30)


@pytest.mark.parametrize(
    ("start", "end", "holidays", "expected"),
    [
        (MON, MON, (), 0),
        (MON, MON + timedelta(days=1), (), 1),
        (MON, MON + timedelta(days=5), (), 5),  # Mon -> Sat
        (MON, MON + timedelta(days=7), (), 5),  # Mon -> next Mon
        (MON, MON + timedelta(days=14), (), 10),
        (D(2026, 12, 5), D(2026, 12, 7), (), 0),  # Sat -> Mon: the weekend only
        (D(2026, 12, 4), D(2026, 12, 7), (), 1),  # Fri -> Mon
        (MON, MON + timedelta(days=14), (D(2026, 12, 8),), 9),  # a Tuesday holiday
        (MON, MON + timedelta(days=14), (D(2026, 12, 6),), 10),  # a holiday on a Sunday changes nothing
        (MON, MON + timedelta(days=14), (D(2026, 12, 14),), 10),  # the end day is not counted
        (D(2026, 12, 25), D(2027, 1, 4), (D(2026, 12, 25), D(2027, 1, 1)), 4),
        (MON + timedelta(days=7), MON, (), -5),
    ],
)
def test_working_days_between(start, end, holidays, expected):
    assert working_days_between(start, end, frozenset(holidays)) == expected


@given(
    start=st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 12, 31)),
    span=st.integers(min_value=0, max_value=60),
    holidays=st.sets(st.dates(min_value=D(2020, 1, 1), max_value=D(2031, 3, 1)), max_size=5),
)
def test_working_days_agree_with_counting_one_by_one(start, span, holidays):
    end = start + timedelta(days=span)
    days = (start + timedelta(days=i) for i in range(span))
    assert working_days_between(start, end, holidays) == sum(1 for d in days if d.weekday() < 5 and d not in holidays)


def kyiv(*args):
    return datetime(*args, tzinfo=KYIV)


@pytest.mark.parametrize(
    ("announced", "starts", "kind", "late"),
    [
        (kyiv(2026, 11, 30, 9), kyiv(2026, 12, 14, 9), "planned", False),  # exactly 10 working days
        (kyiv(2026, 11, 30, 9), kyiv(2026, 12, 11, 9), "planned", True),  # 9
        (kyiv(2026, 11, 30, 9), kyiv(2026, 12, 1, 9), "emergency", False),  # emergencies are exempt
        (kyiv(2026, 11, 30, 9), kyiv(2026, 11, 30, 8), "planned", True),  # announced after the start
        # 23:30 Kyiv on Sunday 29 Nov is 21:30 UTC the same day: counted from Sunday, not from Monday.
        (datetime(2026, 11, 29, 21, 30, tzinfo=UTC), kyiv(2026, 12, 11, 9), "planned", True),
        # 00:30 Kyiv on Monday 30 Nov is still Sunday in UTC: Monday counts.
        (datetime(2026, 11, 29, 22, 30, tzinfo=UTC), kyiv(2026, 12, 14, 0, 30), "planned", False),
    ],
)
def test_is_late_notice(announced, starts, kind, late):
    assert is_late_notice(announced, starts, kind) is late


def test_holidays_and_minimum_are_honoured():
    announced, starts = kyiv(2026, 11, 30, 9), kyiv(2026, 12, 14, 9)
    assert is_late_notice(announced, starts, "planned", holidays=frozenset({D(2026, 12, 8)}))
    assert not is_late_notice(announced, starts, "planned", minimum=5)


def test_kyiv_date_reads_naive_times_as_utc():
    assert kyiv_date(datetime(2026, 6, 30, 22, 0)) == D(2026, 7, 1)  # summer: UTC+3
    assert kyiv_date(datetime(2026, 12, 31, 22, 0)) == D(2027, 1, 1)  # winter: UTC+2
    assert kyiv_date(datetime(2026, 12, 31, 21, 59, tzinfo=UTC)) == D(2026, 12, 31)
