"""Report periods in Kyiv time: a week is Monday 00:00 to the next Monday 00:00, a month its first day
to the next month's first day; kept as UTC instants so the queries need no time-zone arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KYIV = ZoneInfo("Europe/Kyiv")
WEEKLY, MONTHLY, CUSTOM = "weekly", "monthly", "custom"


def _kyiv_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=KYIV).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    kind: str
    first_day: date  # Kyiv dates, both included
    last_day: date

    @property
    def start(self) -> datetime:
        return _kyiv_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return _kyiv_midnight(self.last_day + timedelta(days=1))

    @property
    def slug(self) -> str:
        return f"{self.kind}-{self.first_day:%Y-%m-%d}_{self.last_day:%Y-%m-%d}"

    def label_uk(self) -> str:
        return f"{self.first_day:%d.%m.%Y} – {self.last_day:%d.%m.%Y}"


def days(first_day: date, last_day: date, kind: str = CUSTOM) -> Period:
    if last_day < first_day:
        raise ValueError(f"the period ends ({last_day}) before it begins ({first_day})")
    return Period(kind, first_day, last_day)


def week_of(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    return Period(WEEKLY, monday, monday + timedelta(days=6))


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(MONTHLY, first, following - timedelta(days=1))


def kyiv_day(moment: datetime) -> date:
    return moment.astimezone(KYIV).date()


def previous_week(moment: datetime) -> Period:
    """The last whole Monday–Sunday week before ``moment`` (Kyiv time): what a Monday run reports."""
    return week_of(kyiv_day(moment) - timedelta(days=7))


def previous_month(moment: datetime) -> Period:
    return month_of(kyiv_day(moment).replace(day=1) - timedelta(days=1))
