"""ТОВ «Екоспецтранс»'s wire format: its vocabulary, the ticket we send, the items we read."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from gateway.addresses import StreetHouses
from gateway.connector import JobDraft, PlannedWork, RemoteJob, StatusChange
from gateway.toolkit import timestamps as ts
from gateway.toolkit.localtime import KYIV
from gateway.toolkit.redact import scrub_contacts

STATUSES = ("open", "scheduled", "collected", "closed", "cannot_access", "rejected")
# Tickets about a container name its container site: the connector looks the site up by address.
CONTAINER_CATEGORIES = frozenset({"CONTAINER_NOT_EMPTIED", "CONTAINER_DAMAGED"})
FEED_START = "1970-01-01T00:00:00Z"  # updated_since for a feed read from the beginning
EMERGENCY_REASONS = frozenset({"breakdown"})  # schedule changes nobody could announce ahead
OPEN_ENDED_REASONS = frozenset({"route_change"})  # a new route holds from its date on


def ticket_body(job: JobDraft, site_id: str | None) -> dict[str, Any]:
    """The API has no priority or phone field (the category carries the urgency), so no resident data
    beyond the address goes, and the description is scrubbed of phones and e-mail addresses."""
    body: dict[str, Any] = {"client_reference": job.reference, "category": job.job_type,
                            "description": scrub_contacts(job.description), "reported_at": job.reported_at.isoformat()}
    if site_id:
        body["site_id"] = site_id
    else:
        body["address"] = {"street": job.street, "house": job.house}
    return body


def ticket_key(item: Any) -> tuple[datetime, str] | None:
    """The feed's order key (updated_at, id), or None when unreadable."""
    try:
        item = ts.obj(item)
        return ts.instant(item, "updated_at"), ts.identifier(item, "id")
    except ts.Unreadable:
        return None


def remote_job(item: Any) -> RemoteJob:
    item = ts.obj(item)
    return RemoteJob(job_id=ts.identifier(item, "id"), reference=ts.as_text(item.get("client_reference")),
                     status=item.get("status") if item.get("status") in STATUSES else None,
                     created_at=ts.instant(item, "created_at", required=False))


def status_change(item: Any) -> StatusChange:
    item = ts.obj(item)
    ticket_id = ts.identifier(item, "id")
    status = ts.one_of(item, "status", STATUSES)
    changed_at = ts.instant(item, "updated_at")
    return StatusChange(change_id=f"{ticket_id}:{item['updated_at']}:{status}", job_id=ticket_id, status=status,
                        changed_at=changed_at, reference=ts.as_text(item.get("client_reference")),
                        comment=ts.as_text(item.get("status_reason"), blank=False))


def planned_work(item: Any) -> PlannedWork:
    """A schedule change as a notice: the whole of each named street, for the day of the new date."""
    item = ts.obj(item)
    notice_id, updated_at = ts.identifier(item, "id"), ts.instant(item, "updated_at")
    new_date, original = ts.day(item, "date"), ts.day(item, "original_date", required=False)
    streets = item.get("streets")
    if not isinstance(streets, list) or not streets or not all(isinstance(s, str) and s.strip() for s in streets):
        raise ts.Unreadable("streets: missing or not a list of street names")
    if not isinstance(item.get("cancelled"), bool):
        raise ts.Unreadable("cancelled: missing or not true/false")
    reason_code = item.get("reason_code") if isinstance(item.get("reason_code"), str) else None  # informational
    try:  # the day after must exist too (the end of a one-day change), whatever the reason
        starts_at, day_after = _kyiv_midnight(new_date), _kyiv_midnight(new_date + timedelta(days=1))
        ts.holdable(starts_at, "date")
        original_at = ts.holdable(_kyiv_midnight(original), "original_date") if original else None
    except OverflowError:
        raise ts.Unreadable("date: out of range") from None
    return PlannedWork(
        notice_id=notice_id, revision=int(updated_at.timestamp()),
        kind="emergency" if reason_code in EMERGENCY_REASONS else "planned", service="waste_collection",
        starts_at=starts_at, ends_at=None if reason_code in OPEN_ENDED_REASONS else day_after,
        addresses=tuple(StreetHouses(street=s.strip(), whole_street=True) for s in streets),
        reason=ts.as_text(item.get("reason"), blank=False), district=ts.as_text(item.get("district"), blank=False),
        original_date=original_at, cancelled=item["cancelled"],
        announced_at=ts.lenient_instant(item, "created_at"),  # beyond the contract: never costs the notice
    )


def _kyiv_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=KYIV)
