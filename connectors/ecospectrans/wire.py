"""Reading Екоспецтранс's JSON into the gateway's dataclasses, and the connector's own feed cursor.

Every reader raises WireError naming the field, so one bad item becomes a RejectedItem and the rest
of its batch goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.ecospectrans.categories import STATUSES
from gateway.addresses import StreetHouses
from gateway.connector import PlannedWork, RemoteJob, StatusChange

KYIV = ZoneInfo("Europe/Kyiv")
FEED_START = "1970-01-01T00:00:00Z"  # updated_since for a feed read from the beginning
EMERGENCY_REASONS = frozenset({"breakdown"})  # schedule changes nobody could announce ahead
OPEN_ENDED_REASONS = frozenset({"route_change"})  # a new route holds from its date on


class WireError(ValueError):
    """An item the connector cannot read; the message names the field."""


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise WireError(f"{name}: missing or not a non-empty string")
    return value


def _instant(item: dict[str, Any], name: str) -> datetime:
    value = item.get(name)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise WireError(f"{name}: missing or not an ISO 8601 date-time with an offset")
    _holdable(moment, name)
    return moment


def _holdable(moment: datetime, name: str) -> None:
    """The gateway keeps instants in UTC: one that cannot be converted (year 1 or 9999 at an extreme
    offset) is unreadable here rather than an OverflowError later, in the middle of a batch."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise WireError(f"{name}: out of range") from None


def _date(item: dict[str, Any], name: str) -> date:
    value = item.get(name)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise WireError(f"{name}: missing or not a date YYYY-MM-DD")


def _optional_date(item: dict[str, Any], name: str) -> date | None:
    return None if item.get(name) is None else _date(item, name)


def _object(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise WireError(f"item: expected a JSON object, got {type(item).__name__}")
    return item


def ticket_key(item: Any) -> tuple[datetime, str] | None:
    """The feed's order key (updated_at, id), or None when unreadable."""
    try:
        item = _object(item)
        return _instant(item, "updated_at"), _text(item, "id")
    except WireError:
        return None


def remote_job(item: Any) -> RemoteJob:
    item = _object(item)
    created = item.get("created_at")
    return RemoteJob(
        job_id=_text(item, "id"),
        reference=item.get("client_reference") if isinstance(item.get("client_reference"), str) else None,
        status=item.get("status") if item.get("status") in STATUSES else None,
        created_at=_instant(item, "created_at") if created is not None else None,
    )


def status_change(item: Any) -> StatusChange:
    item = _object(item)
    ticket_id = _text(item, "id")
    status = item.get("status")
    if status not in STATUSES:
        raise WireError(f"status: {str(status)[:40]!r} is not one of {', '.join(STATUSES)}")
    changed_at = _instant(item, "updated_at")
    reason = item.get("status_reason")
    reference = item.get("client_reference")
    return StatusChange(
        change_id=f"{ticket_id}:{item['updated_at']}:{status}",
        job_id=ticket_id,
        status=status,
        changed_at=changed_at,
        reference=reference if isinstance(reference, str) else None,
        comment=reason if isinstance(reason, str) and reason.strip() else None,
    )


def _kyiv_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=KYIV)


def planned_work(item: Any) -> PlannedWork:
    """A schedule change as a notice: the whole of each named street, for the day of the new date."""
    item = _object(item)
    notice_id = _text(item, "id")
    updated_at = _instant(item, "updated_at")
    new_date = _date(item, "date")
    original = _optional_date(item, "original_date")
    streets = item.get("streets")
    if not isinstance(streets, list) or not streets or not all(isinstance(s, str) and s.strip() for s in streets):
        raise WireError("streets: missing or not a list of street names")
    cancelled = item.get("cancelled")
    if not isinstance(cancelled, bool):
        raise WireError("cancelled: missing or not true/false")
    reason_code = item.get("reason_code")
    if not isinstance(reason_code, str):  # informational; a list here would be unhashable below
        reason_code = None
    district = item.get("district")
    reason = item.get("reason")
    try:  # beyond the contract and informational: an unreadable one must not cost residents the notice
        announced = _instant(item, "created_at") if item.get("created_at") is not None else None
    except WireError:
        announced = None
    try:  # the day after must exist too (the end of a one-day change), whatever the reason
        starts_at, day_after = _kyiv_midnight(new_date), _kyiv_midnight(new_date + timedelta(days=1))
        ends_at = None if reason_code in OPEN_ENDED_REASONS else day_after
        _holdable(starts_at, "date")
        original_at = _kyiv_midnight(original) if original else None
        if original_at is not None:
            _holdable(original_at, "original_date")
    except OverflowError:
        raise WireError("date: out of range") from None
    return PlannedWork(
        notice_id=notice_id,
        revision=int(updated_at.timestamp()),
        kind="emergency" if reason_code in EMERGENCY_REASONS else "planned",
        service="waste_collection",
        starts_at=starts_at,
        ends_at=ends_at,
        addresses=tuple(StreetHouses(street=s.strip(), whole_street=True) for s in streets),
        reason=reason if isinstance(reason, str) and reason.strip() else None,
        district=district if isinstance(district, str) and district.strip() else None,
        original_date=original_at,
        cancelled=cancelled,
        announced_at=announced,
    )


@dataclass(frozen=True)
class FeedCursor:
    """Where the connector is in the ticket feed.

    ``page`` is the utility's cursor of the page being read (None: the first page for ``since``).
    A page may be handed to the engine in parts; the part already taken is remembered by its last
    order key (``after_at``, ``after_id``: the feed is ordered by updated_at, then id) rather than by
    a count, because a ticket updated meanwhile leaves the page and would shift every position after
    it. ``taken`` counts the items taken, for the rare item whose key cannot be read.
    """

    since: str = FEED_START
    page: str | None = None
    after_at: str | None = None
    after_id: str | None = None
    taken: int = 0

    PREFIX = "eco1."

    def encode(self) -> str:
        raw = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()
        return self.PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> FeedCursor:
        if not text.startswith(cls.PREFIX):
            raise ValueError("not an ecospectrans feed cursor")
        body = text[len(cls.PREFIX) :]
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            cursor = cls(**data)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise ValueError(f"unreadable ecospectrans feed cursor ({type(exc).__name__})") from None
        if not isinstance(cursor.since, str) or not isinstance(cursor.taken, int):
            raise ValueError("unreadable ecospectrans feed cursor (field types)")
        return cursor

    def after_key(self) -> tuple[datetime, str] | None:
        if self.after_at is None or self.after_id is None:
            return None
        return datetime.fromisoformat(self.after_at), self.after_id
