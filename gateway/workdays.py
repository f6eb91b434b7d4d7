"""Working days, for the rule that planned interruptions are announced at least 10 working days ahead.

Days are counted on Kyiv calendar dates: a notice published at 23:30 Kyiv time on Friday was published
on Friday, whatever UTC says. Unless a caller passes its own set of holidays, the days off are those of
the request deadlines (gateway/deadlines.py: the ``holidays`` library, country UA), so one calendar
serves both rules.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.deadlines import default_rules

KYIV = ZoneInfo("Europe/Kyiv")
MINIMUM_NOTICE_DAYS = 10


def _calendar_holidays(start: date, end: date) -> frozenset[date]:
    return default_rules().calendar.holidays_between(start, end)


def working_days_between(start: date, end: date, holidays: Set[date] | None = None) -> int:
    """Monday–Friday days in [start, end), minus holidays; like ``(end - start).days`` but in working days
    (Monday to the next Monday is 5; the same day is 0; negative when ``end`` comes first).
    ``holidays=None``: the Ukrainian calendar of gateway/data/deadlines.yaml."""
    if holidays is None:
        holidays = _calendar_holidays(start, end)
    if end < start:
        return -working_days_between(end, start, holidays)
    weeks, extra = divmod((end - start).days, 7)
    count = weeks * 5 + sum(1 for i in range(extra) if (start + timedelta(days=weeks * 7 + i)).weekday() < 5)
    return count - sum(1 for h in holidays if start <= h < end and h.weekday() < 5)


def kyiv_date(moment: datetime) -> date:
    """The Kyiv calendar date of a moment; a naive datetime is taken as UTC (how the gateway stores times)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(KYIV).date()


def is_late_notice(
    announced_at: datetime,
    starts_at: datetime,
    kind: str,
    *,
    minimum: int = MINIMUM_NOTICE_DAYS,
    holidays: Set[date] | None = None,
) -> bool:
    """True when a planned interruption was announced fewer than ``minimum`` working days before it starts.

    Emergencies are exempt. Announced on Monday 1 December, a start on Monday 15 December is in time
    (10 working days: 1–5 and 8–12 December); a start on Friday 12 December is late.
    """
    if kind == "emergency":
        return False
    return working_days_between(kyiv_date(announced_at), kyiv_date(starts_at), holidays) < minimum
