"""Deadlines of requests as data (gateway/data/deadlines.yaml), in Kyiv time, on the Ukrainian calendar.

Emergencies and SOS get hours of elapsed time: two hours are two hours also on the night the clocks
change. Ordinary items get working days: the deadline is 24:00 Kyiv time of the N-th working day after
the day of registration, Saturdays, Sundays and the public holidays of the ``holidays`` library
(country UA) not counted. The same calendar decides whether planned works were announced late
(gateway/workdays.py). A deadline may be extended once, with who, when and why recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.classifier import DATA_DIR, default_classifier
from gateway.errors import ConfigError, GatewayError
from gateway.models import ClassifierItem, Request
from gateway.sync.bookkeeping import add_history
from gateway.yamlfile import load_yaml

DEADLINES_FILE = DATA_DIR / "deadlines.yaml"
SOS_SECTION = "32"


class DeadlineError(GatewayError):
    """A deadline change the rules do not allow (a second extension, a new deadline not later)."""


@dataclass(frozen=True)
class DeadlineRule:
    hours: int | None = None
    working_days: int | None = None

    @property
    def hourly(self) -> bool:
        return self.hours is not None

    def describe_uk(self) -> str:
        return f"{self.hours} год" if self.hourly else f"{self.working_days} робочих днів"


@dataclass(frozen=True)
class WorkCalendar:
    """Kyiv working days: Monday to Friday minus the library's Ukrainian holidays of the given categories."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Kyiv"))
    country: str = "UA"
    categories: tuple[str, ...] = ("public",)
    extra_days_off: frozenset[date] = frozenset()

    def days_off(self, year: int) -> frozenset[date]:
        return _days_off(self.country, self.categories, year) | {d for d in self.extra_days_off if d.year == year}

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.days_off(day.year)

    def holidays_between(self, start: date, end: date) -> frozenset[date]:
        """Non-weekend days off in [start, end)."""
        lo, hi = min(start, end), max(start, end)
        found = set()
        for year in range(lo.year, hi.year + 1):
            found |= {d for d in self.days_off(year) if lo <= d < hi}
        return frozenset(found)

    def add_working_days(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself is never counted)."""
        if count < 0:
            raise ValueError("count must not be negative")
        while count:
            day += timedelta(days=1)
            count -= self.is_working_day(day)
        return day

    def local_date(self, moment: datetime) -> date:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.timezone).date()

    def end_of_day(self, day: date) -> datetime:
        """24:00 Kyiv time of ``day`` (the next midnight), in UTC."""
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.timezone).astimezone(UTC)


@cache
def _days_off(country: str, categories: tuple[str, ...], year: int) -> frozenset[date]:
    return frozenset(holiday_calendars.country_holidays(country, years=year, categories=categories))


@dataclass(frozen=True)
class DeadlineRules:
    calendar: WorkCalendar
    classes: dict[str, DeadlineRule]
    items: dict[str, DeadlineRule]

    def rule(self, item_key: str, urgency: str) -> DeadlineRule:
        if item_key in self.items:
            return self.items[item_key]
        try:
            return self.classes[urgency]
        except KeyError:
            raise ConfigError(f"{DEADLINES_FILE.name}: no rule for urgency class {urgency!r} "
                              f"(item {item_key!r})") from None

    def deadline(self, item_key: str, urgency: str, registered_at: datetime) -> datetime:
        """When a request registered at ``registered_at`` must be done (UTC)."""
        if registered_at.tzinfo is None:
            raise ValueError(f"naive datetime {registered_at!r}: registration times are aware")
        rule = self.rule(item_key, urgency)
        if rule.hourly:
            return (registered_at.astimezone(UTC) + timedelta(hours=rule.hours)).astimezone(UTC)
        day = self.calendar.local_date(registered_at)
        return self.calendar.end_of_day(self.calendar.add_working_days(day, rule.working_days))

    def hourly_item_keys(self) -> frozenset[str]:
        """Items whose deadline is in hours (emergencies) or that belong to section 32 «SOS»."""
        keys = set()
        for item in default_classifier().current.items:
            if item.section == SOS_SECTION or self.rule(item.key, item.urgency).hourly:
                keys.add(item.key)
        return frozenset(keys)


def _rule(raw: Any, where: str) -> DeadlineRule:
    if not isinstance(raw, dict) or set(raw) not in ({"hours"}, {"working_days"}):
        raise ConfigError(f"{where}: a rule is {{hours: N}} or {{working_days: N}}, got {raw!r}")
    (name, value), = raw.items()
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where}: {name} must be a positive whole number, got {value!r}")
    return DeadlineRule(**{name: value})


def load_rules(path: Path = DEADLINES_FILE) -> DeadlineRules:
    """Read and check the rules: every urgency class of the classifier has one, every item key exists."""
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: expected a mapping at the top")
    cal = raw.get("calendar") or {}
    try:
        zone = ZoneInfo(raw.get("timezone", "Europe/Kyiv"))
        calendar = WorkCalendar(zone, cal.get("country", "UA"), tuple(cal.get("categories", ["public"])))
        calendar.days_off(2026)
    except (KeyError, NotImplementedError, ValueError) as exc:
        raise ConfigError(f"{path.name}: calendar or timezone cannot be used ({exc})") from None
    classes = {name: _rule(r, f"{path.name}: urgency_classes.{name}")
               for name, r in (raw.get("urgency_classes") or {}).items()}
    items = {key: _rule(r, f"{path.name}: items.{key}") for key, r in (raw.get("items") or {}).items()}
    classifier = default_classifier()
    if missing := set(classifier.urgency_classes) - set(classes):
        raise ConfigError(f"{path.name}: no rule for urgency class(es) {', '.join(sorted(missing))}")
    known = {i.key for v in classifier.versions for i in v.items}
    if unknown := set(items) - known:
        raise ConfigError(f"{path.name}: unknown classifier item key(s) {', '.join(sorted(unknown))}")
    return DeadlineRules(calendar, classes, items)


@cache
def default_rules() -> DeadlineRules:
    return load_rules()


def deadline_for(item: ClassifierItem, registered_at: datetime, rules: DeadlineRules | None = None) -> datetime:
    """The deadline of a request for ``item`` registered at ``registered_at``: what registration stores
    in ``requests.deadline_at``."""
    return (rules or default_rules()).deadline(item.key, item.urgency, registered_at)


def effective_deadline(request: Request) -> datetime:
    return request.extended_deadline_at or request.deadline_at


def extend_deadline(session: Session, request: Request, new_deadline: datetime, *, by: str, reason: str,
                    at: datetime) -> None:
    """Grant the one extension a request may get (продовження терміну): who, when, why, until when.

    A request that was marked overdue against its old deadline is no longer overdue; it is marked
    again if it misses the new one.
    """
    if request.extended_deadline_at is not None:
        raise DeadlineError(f"request {request.number}: the deadline was already extended on "
                            f"{request.extended_at:%Y-%m-%d %H:%M} UTC by {request.extended_by}; "
                            "a deadline is extended once")
    if not reason or not reason.strip():
        raise DeadlineError(f"request {request.number}: an extension needs a reason")
    if new_deadline.tzinfo is None:
        raise DeadlineError(f"request {request.number}: the new deadline {new_deadline!r} has no time zone")
    if new_deadline <= request.deadline_at:
        raise DeadlineError(f"request {request.number}: the new deadline {new_deadline:%Y-%m-%d %H:%M %Z} "
                            f"is not later than the current one {request.deadline_at:%Y-%m-%d %H:%M} UTC")
    request.extended_deadline_at = new_deadline.astimezone(UTC)
    request.extension_reason = reason.strip()
    request.extended_by, request.extended_at = by, at
    request.overdue_at = None
    add_history(session, request, actor=by, field="deadline", old=request.deadline_at.isoformat(),
                new=request.extended_deadline_at.isoformat(), note=f"продовження терміну: {reason.strip()}", at=at)


def apply_rules(session: Session, rules: DeadlineRules | None = None) -> int:
    """Set ``deadline_at`` from the rules for every request (an extension is kept); returns how many
    changed. For databases filled before the rules existed (registration time + calendar hours)."""
    rules = rules or default_rules()
    changed = 0
    for request in session.scalars(select(Request).join(Request.item)):
        wanted = rules.deadline(request.item.key, request.item.urgency, request.registered_at)
        if request.deadline_at != wanted:
            request.deadline_at = wanted
            changed += 1
    return changed
