"""Public exports: announcements as JSON, GeoJSON, iCalendar and Atom; requests' public status as Open311
GeoReport v2. The HTTP service (gateway.public) and the ``gateway export`` command render with these.

The functions take the views below (or anything with their attributes: tests pass their own) and
pass every record through gateway.privacy before rendering it, so nothing about a resident leaves:
no name, no phone, no flat, no operator's note; coordinates rounded to a block.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import icalendar

from gateway import privacy
from gateway.classifier import ClassifierVersion
from gateway.privacy import PHONE_MASK, PublicRequest, public_request  # noqa: F401  (PHONE_MASK: re-exported)
from gateway.statuses import RequestStatus

KYIV = ZoneInfo("Europe/Kyiv")
UID_DOMAIN = "1520.kr.gov.ua"
PRODID = "-//Kryvyi Rih contact centre 1520//announcements gateway//UK"
CALENDAR_NAME = "Кривий Ріг 1520: відключення та роботи"
FEED_TITLE = "Кривий Ріг 1520: відключення та планові роботи"
ATOM_NS = "http://www.w3.org/2005/Atom"


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
    contact_phone: str | None = None  # the utility's hotline, the one phone a public text may show
    district: str | None = None
    tanker_location: str | None = None
    streets: tuple[str, ...] = ()  # the covered streets' display names
    street_lines: tuple[str, ...] = ()  # per street, its houses as residents read them («вул. Соборності: 12–28»)
    points: tuple[tuple[str, float, float], ...] = ()  # (street, lat, lon) where coordinates are known


@dataclass(frozen=True)
class RequestView:
    """A request record as the exports receive it. It may carry the resident's data (so the privacy
    policy can remove it from free text too); what is published is gateway.privacy.PublicRequest."""

    number: str
    classifier_code: str
    classifier_name_uk: str
    section_name_uk: str
    executor_name_uk: str
    status: RequestStatus
    description: str
    street: str
    house: str
    registered_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    lat: float | None
    lon: float | None
    contact_name: str | None = None
    contact_phone: str | None = None
    flat: str | None = None


def public_announcement(a: AnnouncementView) -> AnnouncementView:
    """The announcement with gateway.privacy's rule for the utilities' texts applied to every text in it."""
    def clean(value: Any) -> Any:
        return privacy.public_announcement_value(value, hotline=a.contact_phone)

    return replace(a, title_uk=clean(a.title_uk), body_uk=clean(a.body_uk), structured=clean(a.structured),
                   tanker_location=clean(a.tanker_location), streets=tuple(clean(list(a.streets))),
                   street_lines=tuple(clean(list(a.street_lines))))


# --- announcements ----------------------------------------------------------------------------------------


def announcement_dict(a: AnnouncementView) -> dict[str, Any]:
    a = public_announcement(a)
    return {
        "id": announcement_id(a),
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
        "hotline": a.contact_phone,
        "district": a.district,
        "tanker_location": a.tanker_location,
        "streets": list(a.streets),
        "structured": a.structured,
    }


def announcement_id(a: AnnouncementView) -> str:
    return f"{a.provider}-{a.notice_id}"


def announcements_document(items: Iterable[AnnouncementView]) -> dict[str, Any]:
    rows = [announcement_dict(a) for a in items]
    return {"count": len(rows), "announcements": rows}


def announcements_json(items: Iterable[AnnouncementView]) -> str:
    """The announcements as a UTF-8 JSON document for the city site and chat bots."""
    return json.dumps(announcements_document(items), ensure_ascii=False, indent=1)


def announcements_geojson(items: Iterable[AnnouncementView]) -> dict[str, Any]:
    """RFC 7946 FeatureCollection: one Point per covered street whose coordinates are known (block-level).
    Announcements without any known point are counted in the foreign member ``without_coordinates``."""
    features: list[dict[str, Any]] = []
    missing = 0
    for a in items:
        if not a.points:
            missing += 1
            continue
        properties = announcement_dict(a)
        properties.pop("structured")
        for street, lat, lon in a.points:
            features.append({
                "type": "Feature",
                "id": f"{announcement_id(a)}/{street}",
                "geometry": {"type": "Point",
                             "coordinates": [privacy.round_coordinate(lon), privacy.round_coordinate(lat)]},
                "properties": {**properties, "street": street},
            })
    return {"type": "FeatureCollection", "features": features, "without_coordinates": missing}


def announcements_ical(items: Iterable[AnnouncementView], *, now: datetime, name: str = CALENDAR_NAME) -> str:
    """An RFC 5545 calendar (built and folded by the icalendar library), one VEVENT per announcement; a new
    revision raises SEQUENCE so calendar clients replace the event, a cancelled one comes with
    STATUS:CANCELLED. Without an end time the event has no DTEND (RFC 5545 3.6.1: it then lasts no time;
    the description says «до завершення робіт»)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", "Europe/Kyiv")
    for a in map(public_announcement, items):
        event = icalendar.Event()
        event.add("uid", f"{a.provider}-{a.notice_id}@{UID_DOMAIN}")
        event.add("dtstamp", _aware(now).astimezone(UTC))
        event.add("last-modified", _aware(a.updated_at).astimezone(UTC))
        event.add("dtstart", _aware(a.starts_at).astimezone(UTC))
        if a.ends_at is not None:
            event.add("dtend", _aware(a.ends_at).astimezone(UTC))
        event.add("sequence", int(a.revision))
        event.add("status", "CANCELLED" if a.state == "cancelled" else "CONFIRMED")
        event.add("summary", a.title_uk)
        event.add("description", a.body_uk)
        event.add("categories", [a.service, a.kind])
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")


def announcements_atom(items: Iterable[AnnouncementView], *, now: datetime, feed_url: str,
                       page_url: str) -> str:
    """An RFC 4287 Atom feed: one entry per announcement, updated when the utility revises it."""
    ElementTree.register_namespace("", ATOM_NS)

    def sub(parent: ElementTree.Element, tag: str, text: str | None = None, **attrs: str) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        element.text = text
        return element

    views = [public_announcement(a) for a in items]
    feed = ElementTree.Element(f"{{{ATOM_NS}}}feed", {"xml:lang": "uk"})
    sub(feed, "id", f"tag:{UID_DOMAIN},2026:announcements")
    sub(feed, "title", FEED_TITLE)
    sub(feed, "updated", _iso(max((a.updated_at for a in views), default=now)))
    sub(feed, "link", rel="self", href=feed_url, type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=page_url, type="text/html")
    author = sub(feed, "author")
    sub(author, "name", "Контакт-центр 1520")
    for a in views:
        entry = sub(feed, "entry")
        sub(entry, "id", f"tag:{UID_DOMAIN},2026:announcement/{a.provider}/{a.notice_id}")
        sub(entry, "title", a.title_uk)
        sub(entry, "updated", _iso(a.updated_at))
        sub(entry, "published", _iso(a.starts_at))
        sub(sub(entry, "author"), "name", a.provider_title)
        sub(entry, "link", rel="alternate", href=f"{page_url}#{announcement_id(a)}", type="text/html")
        sub(entry, "category", term=a.service)
        sub(entry, "content", a.body_uk, type="text")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(feed, encoding="unicode")


# --- requests (Open311 GeoReport v2) -----------------------------------------------------------------------


def open311_requests(items: Iterable[RequestView]) -> list[dict[str, Any]]:
    """Requests' public status in GeoReport v2 shape plus the updates extension's status."""
    return [open311_request(public_request(r)) for r in items]


def open311_request(r: PublicRequest) -> dict[str, Any]:
    """One published request (already through the privacy policy) in GeoReport v2 field names."""
    return {
        "service_request_id": r.number,
        "status": "closed" if r.closed else "open",
        "status_notes": r.status_uk,
        "service_name": r.service_name_uk,
        "service_code": r.service_code,
        "description": r.description,
        "agency_responsible": r.agency_uk,
        "service_notice": f"Строк виконання — до {_kyiv_text(r.deadline_at)}" if r.deadline_at is not None else None,
        "requested_datetime": _iso(r.registered_at),
        "updated_datetime": _iso(r.updated_at),
        "expected_datetime": _iso(r.deadline_at),
        "address": r.address,
        "lat": r.lat,
        "long": r.lon,
        "extended_attributes": {"status": OPEN311_STATUS[r.status]},
    }


def open311_service(code: str, name_uk: str, group: str) -> dict[str, Any]:
    return {
        "service_code": code,
        "service_name": name_uk,
        "description": name_uk,
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": group,
    }


def open311_services(classifier_version: ClassifierVersion) -> list[dict[str, Any]]:
    """The classifier as GeoReport v2 services: code -> service_code, section -> group."""
    return [
        open311_service(item.code, item.name_uk, classifier_version.sections.get(item.section, item.section))
        for item in classifier_version.items
    ]


def mask_phones(text: str) -> str:
    return privacy.mask_phones(text)


# --- times ---------------------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    """A naive time is taken as UTC (how the gateway stores times)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _iso(moment: datetime | None) -> str | None:
    """W3C / ISO 8601 with the Kyiv offset: "2026-12-01T09:00:00+02:00"."""
    return _aware(moment).astimezone(KYIV).isoformat(timespec="seconds") if moment is not None else None


def _kyiv_text(moment: datetime) -> str:
    return _aware(moment).astimezone(KYIV).strftime("%H:%M %d.%m.%Y")

