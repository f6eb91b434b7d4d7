"""Public exports: announcements as JSON and iCalendar, requests' public status as Open311 GeoReport v2.

The functions take the views below (or anything with their attributes: tests pass their own) and
return text or JSON-ready data. Nothing about a resident leaves: no name, no phone, no flat; phone
numbers a resident typed into a description are masked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway import redact
from gateway.addresses import canonical_street
from gateway.classifier import ClassifierVersion
from gateway.statuses import CLOSED, STATUS_NAMES_UK, RequestStatus

KYIV = ZoneInfo("Europe/Kyiv")
UID_DOMAIN = "1520.kr.gov.ua"
PRODID = "-//Kryvyi Rih contact centre 1520//announcements gateway//UK"
CALENDAR_NAME = "Кривий Ріг 1520: відключення та роботи"
PHONE_MASK = "[телефон приховано]"


# The updates extension's statuses (open, in_progress, action_scheduled, investigating, fixed, closed,
# duplicate, not_councils_responsibility, no_further_action, internal_referral, reopen).
OPEN311_STATUS: dict[RequestStatus, str] = {
    RequestStatus.REGISTERED: "open",
    RequestStatus.SENT: "action_scheduled",  # handed to the executor who will act on it
    RequestStatus.IN_PROGRESS: "in_progress",
    RequestStatus.DONE: "fixed",  # the executor says done; the resident has not confirmed yet
    RequestStatus.CONFIRMED: "closed",  # the resident confirmed the fix
    RequestStatus.REWORK: "reopen",
    RequestStatus.NOT_COMPETENCE: "internal_referral",  # redirected to the right city executor
    RequestStatus.DUPLICATE: "duplicate",
    RequestStatus.FALSE_CALL: "no_further_action",
    RequestStatus.CONSULTATION: "no_further_action",  # explained to the resident, nothing to repair
    RequestStatus.WITHDRAWN: "closed",
}


@dataclass(frozen=True)
class AnnouncementView:
    """An announcement as the exports read it (built from the database in gateway.export_views)."""

    provider: str
    provider_title: str
    notice_id: str
    revision: int
    kind: str
    service: str
    title_uk: str
    body_uk: str
    structured: dict[str, Any]
    starts_at: datetime
    ends_at: datetime | None
    state: str
    updated_at: datetime


@dataclass(frozen=True)
class RequestView:
    """A request's public face: no name, no phone, no flat."""

    number: str
    classifier_code: str
    classifier_name_uk: str
    section_name_uk: str
    executor_name_uk: str
    status: RequestStatus
    status_note: str | None
    description: str
    street: str
    house: str
    registered_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    lat: float | None
    lon: float | None


# --- announcements ----------------------------------------------------------------------------------------


def announcements_json(items: Iterable[AnnouncementView]) -> str:
    """The announcements as a UTF-8 JSON document for the city site and chat bots."""
    rows = [
        {
            "id": f"{a.provider}-{a.notice_id}",
            "provider": a.provider,
            "provider_title": a.provider_title,
            "notice_id": a.notice_id,
            "revision": a.revision,
            "kind": a.kind,
            "service": a.service,
            "state": a.state,
            "title": a.title_uk,
            "body": a.body_uk,
            "starts_at": _iso(a.starts_at),
            "ends_at": _iso(a.ends_at),
            "until_finished": a.ends_at is None,
            "updated_at": _iso(a.updated_at),
            "structured": a.structured,
        }
        for a in items
    ]
    return json.dumps({"count": len(rows), "announcements": rows}, ensure_ascii=False, indent=1)


def announcements_ical(items: Iterable[AnnouncementView], *, now: datetime) -> str:
    """An RFC 5545 calendar, one VEVENT per announcement; a new revision raises SEQUENCE so calendar
    clients replace the event, a cancelled one comes with STATUS:CANCELLED. Without an end time the event
    has no DTEND (RFC 5545 3.6.1: it then lasts no time; the description says «до завершення робіт»)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(CALENDAR_NAME)}",
        "X-WR-TIMEZONE:Europe/Kyiv",
    ]
    for a in items:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{a.provider}-{a.notice_id}@{UID_DOMAIN}",
            f"DTSTAMP:{_utc(now)}",
            f"LAST-MODIFIED:{_utc(a.updated_at)}",
            f"DTSTART:{_utc(a.starts_at)}",
        ]
        if a.ends_at is not None:
            lines.append(f"DTEND:{_utc(a.ends_at)}")
        lines += [
            f"SEQUENCE:{int(a.revision)}",
            f"STATUS:{'CANCELLED' if a.state == 'cancelled' else 'CONFIRMED'}",
            f"SUMMARY:{escape_text(a.title_uk)}",
            f"DESCRIPTION:{escape_text(a.body_uk)}",
            f"CATEGORIES:{escape_text(a.service)},{escape_text(a.kind)}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold_line(line) + "\r\n" for line in lines)


def escape_text(text: str) -> str:
    """RFC 5545 TEXT: backslash, semicolon and comma escaped, line breaks as \\n."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def fold_line(line: str, limit: int = 75) -> str:
    """Fold a content line to at most ``limit`` octets per physical line, never inside a UTF-8 character;
    each continuation starts with one space (which counts toward the limit)."""
    parts: list[str] = []
    current, size, room = "", 0, limit
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > room:
            parts.append(current)
            current, size, room = "", 0, limit - 1
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


# --- requests (Open311 GeoReport v2) -----------------------------------------------------------------------


def open311_requests(items: Iterable[RequestView]) -> list[dict[str, Any]]:
    """Requests' public status in GeoReport v2 shape plus the updates extension's status."""
    return [_open311_request(r) for r in items]


def _open311_request(r: RequestView) -> dict[str, Any]:
    status = RequestStatus(r.status)
    note = mask_phones(r.status_note) if r.status_note else STATUS_NAMES_UK[status]
    deadline = r.deadline_at
    return {
        "service_request_id": r.number,
        "status": "closed" if status in CLOSED else "open",
        "status_notes": note,
        "service_name": r.classifier_name_uk,
        "service_code": r.classifier_code,
        "description": mask_phones(r.description or ""),
        "agency_responsible": r.executor_name_uk,
        "service_notice": f"Строк виконання — до {_kyiv_text(deadline)}" if deadline is not None else None,
        "requested_datetime": _iso(r.registered_at),
        "updated_datetime": _iso(r.updated_at),
        "expected_datetime": _iso(deadline),
        "address": f"{canonical_street(r.street)}, {r.house}" if r.house else canonical_street(r.street),
        "lat": r.lat,
        "long": r.lon,
        "extended_attributes": {"status": OPEN311_STATUS[status]},
    }


def open311_services(classifier_version: ClassifierVersion) -> list[dict[str, Any]]:
    """The classifier as GeoReport v2 services: code -> service_code, section -> group."""
    return [
        {
            "service_code": item.code,
            "service_name": item.name_uk,
            "description": item.name_uk,
            "metadata": False,
            "type": "realtime",
            "keywords": "",
            "group": classifier_version.sections.get(item.section, item.section),
        }
        for item in classifier_version.items
    ]


def mask_phones(text: str) -> str:
    return redact.mask_phones(text, PHONE_MASK)


# --- times ---------------------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    """A naive time is taken as UTC (how the gateway stores times)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _iso(moment: datetime | None) -> str | None:
    """W3C / ISO 8601 with the Kyiv offset: "2026-12-01T09:00:00+02:00"."""
    return _aware(moment).astimezone(KYIV).isoformat(timespec="seconds") if moment is not None else None


def _utc(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _kyiv_text(moment: datetime) -> str:
    return _aware(moment).astimezone(KYIV).strftime("%H:%M %d.%m.%Y")
