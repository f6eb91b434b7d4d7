"""Kyiv wall-clock time, as legacy utility systems speak it (Teplotsentral's SOAP service), and aware
UTC, as the gateway keeps it.

Such a service's date-times carry no offset. Twice a year that loses information:
- spring (last Sunday of March, 03:00 EET -> 04:00 EEST): wall times 03:00–03:59 never happen;
- autumn (last Sunday of October, 04:00 EEST -> 03:00 EET): wall times 03:00–03:59 happen twice.
Functions here never guess silently: ``candidates`` lists every instant a wall time may stand for and
``resolve`` picks one using what the caller knows (the window in which the instant must lie).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

KYIV = ZoneInfo("Europe/Kyiv")
LOCAL_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
_SECOND = timedelta(seconds=1)
_TINY = timedelta(microseconds=1)
# Longer than any shift of Kyiv's clock: after the clock is turned back, no wall time lower than one
# read within this horizon can appear again.
DST_HORIZON = timedelta(hours=2)


def require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime")
    return value.astimezone(UTC)


def to_wall(instant: datetime) -> datetime:
    """The naive Kyiv wall-clock time of an aware instant."""
    return require_aware(instant, "instant").astimezone(KYIV).replace(tzinfo=None, fold=0)


def wire(wall: datetime) -> str:
    """A wall time as sent on the wire: whole seconds (the service stores no fractions), no offset."""
    return wall.strftime(LOCAL_DATETIME_FORMAT)


def floor_second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def kyiv_day(moment: datetime) -> str:
    """The Kyiv calendar date of an instant (a naive one is taken as UTC), YYYY-MM-DD."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(KYIV).date().isoformat()


def holdable_wall(value: datetime) -> bool:
    """Whether a date-time converts to UTC and back to Kyiv time (year 1 or 9999 at the edge does not)."""
    try:
        if value.tzinfo is not None:
            to_wall(value)
        else:
            candidates(value)
    except OverflowError:
        return False
    return True


def candidates(wall: datetime) -> tuple[datetime, ...]:
    """Every UTC instant a naive Kyiv wall time may stand for, earliest first.

    One for an ordinary time; two for a time in the repeated autumn hour (summer offset first);
    two for a time in the skipped spring hour, which a correct clock never shows (read with either
    offset: a clock not yet moved forward, or one already moved).
    """
    if wall.tzinfo is not None:
        return (wall.astimezone(UTC),)
    first = wall.replace(tzinfo=KYIV, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=KYIV, fold=1).astimezone(UTC)
    return (first,) if first == second else tuple(sorted((first, second)))


def is_real(wall: datetime) -> bool:
    """False for a wall time in the skipped spring hour."""
    return all(to_wall(c) == wall for c in candidates(wall))


def resolve(
    wall: datetime,
    low: datetime | None = None,
    high: datetime | None = None,
    *,
    prefer_after: datetime | None = None,
) -> tuple[datetime, bool]:
    """The UTC instant of a wall time known to lie in [low, high] (aware; either may be None).

    Returns ``(instant, certain)``. The candidate inside the window wins. If two are inside, the one
    after ``prefer_after`` wins when it is the only one there (a feed's new changes lie mostly beyond
    the last watermark, only a few minutes of late writes before it); otherwise the one nearest to the
    window, then the earliest (PEP 495 ``fold=0``). ``certain`` is False whenever a choice was made.
    """
    options = candidates(wall)
    if len(options) == 1:
        return options[0], True

    def distance(instant: datetime) -> timedelta:
        if low is not None and instant < low:
            return low - instant
        if high is not None and instant > high:
            return instant - high
        return timedelta(0)

    inside = [c for c in options if distance(c) == timedelta(0)]
    if len(inside) == 1:
        return inside[0], True
    if len(inside) > 1 and prefer_after is not None:
        later = [c for c in inside if c > prefer_after]
        if len(later) == 1:
            return later[0], False
    pool = inside or options
    return min(pool, key=lambda c: (distance(c), c)), False


def _offset(instant: datetime) -> timedelta:
    return instant.astimezone(KYIV).utcoffset() or timedelta(0)


def transitions(start: datetime, end: datetime) -> list[datetime]:
    """The instants in (start, end] at which Kyiv's UTC offset changes (the first instant of the new one)."""
    start, end = require_aware(start, "start"), require_aware(end, "end")
    found: list[datetime] = []
    step = timedelta(hours=1)
    at, offset = start, _offset(start)
    while at < end:
        nxt = min(at + step, end)
        new_offset = _offset(nxt)
        if new_offset != offset:
            low, high = at, nxt  # offset(low) is the old one, offset(high) the new one
            while high - low > _SECOND:
                mid = low + (high - low) / 2
                if _offset(mid) == offset:
                    low = mid
                else:
                    high = mid
            switch = high.replace(microsecond=0)  # zone transitions fall on whole seconds
            if _offset(switch) == offset:
                switch += _SECOND
            found.append(switch)
            offset = new_offset
        at = nxt
    return found


def wall_span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The narrowest naive window [low, high] holding the wall time of every instant in [start, end].

    Normally (wall(start), wall(end)). When the clock is turned back inside the window the wall time
    goes back an hour, so ``low`` reaches down to the wall time just after the switch and ``high`` up to
    the one just before it: a window from 00:58 to 01:05 UTC on 25 October 2026 reads 03:58 -> 03:05
    on the wall and is asked as 03:00–03:59:59. Spring needs nothing: the wall time only jumps ahead.
    """
    walls = [to_wall(start), to_wall(end)]
    for switch in transitions(start, end):
        walls += [to_wall(switch), to_wall(switch - _TINY)]
    return min(walls), max(walls)


def wall_floor(start: datetime) -> datetime:
    """The lowest wall time any instant from ``start`` on will read (the clock may yet be turned back)."""
    return wall_span(start, require_aware(start, "start") + DST_HORIZON)[0]


def wire_span(start: datetime, end: datetime) -> dict[str, str]:
    """From/To as such a service is asked: the narrowest wall-time window holding [start, end], whole seconds."""
    low, high = wall_span(start, end)
    return {"From": wire(floor_second(low)), "To": wire(floor_second(high))}
