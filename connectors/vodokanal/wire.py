"""КП «Кривбасводоканал»'s wire format: its vocabulary, the bodies we send, the items we read."""

from __future__ import annotations

import json
from typing import Any

from gateway.addresses import HouseRange, StreetHouses
from gateway.connector import JobDraft, PlannedWork, RemoteJob, StatusChange
from gateway.toolkit import timestamps as ts
from gateway.toolkit.redact import outbound_text

API_PREFIX = "/api/v1"
STATUSES = frozenset({"NEW", "ACCEPTED", "CREW_ASSIGNED", "IN_PROGRESS", "COMPLETED", "REJECTED_NOT_OURS", "DUPLICATE",
                      "FALSE_CALL", "CANCELLED"})
NOTICE_KINDS = frozenset({"planned", "emergency"})
NOTICE_SERVICES = frozenset({"cold_water", "sewage"})
FEED_MAX_LIMIT = 500


def order_body(job: JobDraft) -> dict[str, Any]:
    """The work order as the API takes it: lat and lon together or not at all; the phone only if sent."""
    address: dict[str, Any] = {"street": job.street, "house": job.house}
    if job.flat is not None:
        address["flat"] = job.flat
    if job.lat is not None and job.lon is not None:
        address.update(lat=job.lat, lon=job.lon)
    body: dict[str, Any] = {"external_ref": job.reference, "job_type": job.job_type, "priority": job.priority,
                            "address": address, "reported_at": job.reported_at.isoformat(),
                            "description": outbound_text(job.description, phone_sent=job.contact_phone is not None)}
    if job.contact_phone is not None:
        body["contact_phone"] = job.contact_phone
    return body


def remote_job(item: Any) -> RemoteJob:
    item = ts.obj(item)
    created_at = ts.instant(item, "created_at", required=False)
    return RemoteJob(ts.identifier(item, "id"), ts.lenient_text(item.get("external_ref")),
                     status=ts.lenient_text(item.get("status")), created_at=created_at)


def change(item: Any, after: int) -> StatusChange:
    item = ts.obj(item)
    seq = ts.positive_int(item.get("seq"))
    if seq is None:
        raise ts.Unreadable("seq: missing or not a positive integer")
    if seq <= after:
        raise ts.Unreadable(f"seq: {seq} is not after the cursor {after}")
    job_id = ts.identifier(item, "order_id")
    status = ts.one_of(item, "status", STATUSES)
    # Informational: a comment, crew or reference that is not text is dropped, the change still counts.
    comment, crew = ts.lenient_text(item.get("comment")), ts.lenient_text(item.get("crew"))
    if crew and (not comment or crew not in comment):
        comment = f"{comment}. Бригада: {crew}" if comment else f"Бригада: {crew}"
    return StatusChange(change_id=str(seq), job_id=job_id, status=status, changed_at=ts.instant(item, "changed_at"),
                        position=seq, reference=ts.lenient_text(item.get("external_ref")), comment=comment)


def notice(item: Any) -> PlannedWork:
    item = ts.obj(item, "notice")
    notice_id = ts.identifier(item, "id")
    version = ts.positive_int(item.get("version"))
    if version is None:
        raise ts.Unreadable("version: missing or not a positive integer")
    kind, service = ts.one_of(item, "kind", NOTICE_KINDS), ts.one_of(item, "service", NOTICE_SERVICES)
    state = ts.one_of({"state": item.get("state", "active")}, "state", ("active", "cancelled"))
    starts_at, ends_at = ts.instant(item, "starts_at"), ts.instant(item, "ends_at", required=False)
    if ends_at is not None and ends_at < starts_at:
        raise ts.Unreadable("ends_at: before starts_at")
    addresses, unparsed = _addresses(item.get("addresses"))
    households = item.get("households")  # informational: an absurd count is dropped
    plausible = isinstance(households, int) and not isinstance(households, bool) and 0 <= households <= 10_000_000
    return PlannedWork(
        notice_id=notice_id, revision=version, kind=kind, service=service, starts_at=starts_at, ends_at=ends_at,
        addresses=addresses, unparsed_lines=unparsed, reason=ts.lenient_text(item.get("reason")),
        households=households if plausible else None, tanker_location=ts.lenient_text(item.get("tanker_location")),
        contact_phone=ts.lenient_text(item.get("contact_phone")), cancelled=state == "cancelled",
        announced_at=ts.lenient_instant(item, "published_at"),
    )


def _addresses(raw: Any) -> tuple[tuple[StreetHouses, ...], tuple[str, ...]]:
    """Structured addresses; an entry that cannot be read is kept verbatim in unparsed lines."""
    if not isinstance(raw, list) or not raw:
        raise ts.Unreadable("addresses: expected a non-empty list")
    found: list[StreetHouses] = []
    unparsed: list[str] = []
    for entry in raw:
        street = ts.lenient_text(entry.get("street")) if isinstance(entry, dict) else None
        if street is None:
            unparsed.append(json.dumps(entry, ensure_ascii=False))
            continue
        houses = entry.get("houses")
        if isinstance(houses, str) and houses.strip().casefold() == "all":
            found.append(StreetHouses(street=street, whole_street=True))
        elif isinstance(houses, dict) and (house_range := _house_range(houses)) is not None:
            found.append(StreetHouses(street=street, ranges=(house_range,)))
        elif isinstance(houses, list) and houses:
            good = [str(h).strip() for h in houses if _house(h)]
            unparsed += [f"{street}: {json.dumps(h, ensure_ascii=False)}" for h in houses if not _house(h)]
            if good:
                found.append(StreetHouses(street=street, houses=tuple(good)))
        else:
            unparsed.append(f"{street}: {json.dumps(houses, ensure_ascii=False)}")
    return tuple(found), tuple(unparsed)


def _house(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and bool(str(value).strip())


def _house_range(raw: dict[str, Any]) -> HouseRange | None:
    start, end, side = (int(v) if isinstance(v, str) and v.isdigit() else v for v in (raw.get("from"), raw.get("to"),
                                                                                       raw.get("side")))
    if ts.positive_int(start) is None or ts.positive_int(end) is None or start > end:
        return None
    if side is not None and (not isinstance(side, str) or side not in ("even", "odd")):
        return None
    return HouseRange(start=start, end=end, parity=side)
