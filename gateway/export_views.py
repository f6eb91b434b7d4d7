"""Database rows -> the views gateway.exports renders, for the HTTP service and ``gateway export`` alike.

Requests are read with a filter and a page (or all of them, in batches: an export is never capped);
announcements are the current and upcoming works, optionally those covering one street or house.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from gateway import exports
from gateway.addresses import StreetHouses, group_by_street, house_key, render_street_houses, street_key
from gateway.announcements import active_announcements, addresses_from_json
from gateway.classifier import default_classifier
from gateway.exports import AnnouncementView, RequestView
from gateway.linking import OPEN_DISPATCH_STATES
from gateway.models import Announcement, ClassifierSection, Dispatch, Executor, Request
from gateway.privacy import house_without_flat
from gateway.public.places import district_of, point_of
from gateway.reference_data import items_by_code
from gateway.statuses import CLOSED, RequestStatus

EXPORT_BATCH = 1000


# --- announcements ------------------------------------------------------------------------------------------


def announcement_views(session: Session, now: datetime, *, provider: str | None = None, street: str | None = None,
                       house: str | None = None) -> list[AnnouncementView]:
    """Current and upcoming works (active, not ended), by start; with ``street`` (and ``house``) only those
    covering it, the street matched through the address normaliser (old names, spellings)."""
    titles = dict(session.execute(select(Executor.integration, Executor.name_uk)
                                  .where(Executor.integration.is_not(None))).tuples().all())
    views = []
    for a in active_announcements(session, now, provider):
        addresses = addresses_from_json(a.addresses)
        if street and not _covers(addresses, street, house):
            continue
        views.append(announcement_view(a, titles.get(a.provider, a.provider), addresses))
    return views


def announcement_view(a: Announcement, provider_title: str, addresses: list[StreetHouses]) -> AnnouncementView:
    grouped = group_by_street(addresses)
    streets = tuple(sh.street for sh in grouped)
    district = a.district or next((d for d in map(district_of, streets) if d), None)
    points = tuple((s, *p) for s in streets if (p := point_of(s)) is not None)
    return AnnouncementView(
        a.provider, provider_title, a.notice_id, a.revision, a.kind, a.service, a.title_uk, a.body_uk,
        a.structured, a.starts_at, a.ends_at, a.state, a.updated_at, contact_phone=a.contact_phone,
        district=district, tanker_location=a.tanker_location, streets=streets, points=points,
        street_lines=tuple(render_street_houses(sh) for sh in grouped),
    )


def _covers(addresses: list[StreetHouses], street: str, house: str | None) -> bool:
    if house:
        return any(sh.covers(street, house) for sh in addresses)
    key = street_key(street)
    return any(street_key(sh.street) == key for sh in addresses)


# --- requests ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFilter:
    """Open311's filters: request numbers, service codes, open/closed, registered in [start, end)."""

    numbers: Sequence[str] = ()
    service_codes: Sequence[str] = ()
    closed: bool | None = None
    start: datetime | None = None
    end: datetime | None = None


def _filtered(session: Session, query: Select, wanted: RequestFilter) -> Select | None:
    """The query narrowed by the filter; None when nothing can match (an unknown service code)."""
    if wanted.numbers:
        query = query.where(Request.number.in_(list(wanted.numbers)))
    if wanted.service_codes:
        items = items_by_code(session)
        ids = [items[code].id for code in wanted.service_codes if code in items]
        if not ids:
            return None
        query = query.where(Request.classifier_item_id.in_(ids))
    if wanted.closed is not None:
        closed = [s.value for s in CLOSED]
        query = query.where(Request.status.in_(closed) if wanted.closed else Request.status.not_in(closed))
    if wanted.start is not None:
        query = query.where(Request.registered_at >= wanted.start)
    if wanted.end is not None:
        query = query.where(Request.registered_at < wanted.end)
    return query


def count_requests(session: Session, wanted: RequestFilter = RequestFilter()) -> int:
    query = _filtered(session, select(func.count()).select_from(Request), wanted)
    return 0 if query is None else int(session.scalar(query) or 0)


def request_views(session: Session, wanted: RequestFilter = RequestFilter(), *, offset: int = 0,
                  limit: int | None = None) -> list[RequestView]:
    """One page of requests, newest first (ties by id, so pages never overlap)."""
    query = _filtered(session, select(Request), wanted)
    if query is None:
        return []
    query = query.order_by(Request.registered_at.desc(), Request.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    requests = session.scalars(query.options(joinedload(Request.item), joinedload(Request.executor))).all()
    return _views(session, requests)


def all_request_views(session: Session, wanted: RequestFilter = RequestFilter(),
                      batch: int = EXPORT_BATCH) -> Iterator[RequestView]:
    """Every request the filter selects, newest first, streamed from one query a batch at a time (one
    snapshot: a request registered meanwhile neither shifts nor doubles a row)."""
    query = _filtered(session, select(Request), wanted)
    if query is None:
        return
    query = (query.order_by(Request.registered_at.desc(), Request.id.desc())
             .options(joinedload(Request.item), joinedload(Request.executor)).execution_options(yield_per=batch))
    for part in session.scalars(query).partitions():
        yield from _views(session, part)


def open_jobs_at(session: Session, street: str, house: str | None) -> list[tuple[RequestView, str]]:
    """Open requests with a job (or a job on its way) at a utility, at the street (and house) given,
    matched through the address normaliser; with the utility's id."""
    key, house_wanted = street_key(street), house_key(house) if house else None
    rows = session.execute(
        select(Request.id, Request.street, Request.house, Dispatch.provider)
        .join(Dispatch, Dispatch.request_id == Request.id)
        .where(Dispatch.state.in_(OPEN_DISPATCH_STATES), Request.status.not_in([s.value for s in CLOSED]))
    ).tuples().all()
    matched = {rid: provider for rid, s, h, provider in rows
               if street_key(s) == key and (house_wanted is None or house_key(house_without_flat(h)) == house_wanted)}
    if not matched:
        return []
    requests = session.scalars(select(Request).where(Request.id.in_(list(matched)))
                               .options(joinedload(Request.item), joinedload(Request.executor))
                               .order_by(Request.registered_at.desc(), Request.id.desc())).all()
    return list(zip(_views(session, requests), [matched[r.id] for r in requests], strict=True))


def _views(session: Session, requests: Sequence[Request]) -> list[RequestView]:
    sections = dict(session.execute(select(ClassifierSection.code, ClassifierSection.name_uk)).tuples().all())
    codes = {item.id: code for code, item in items_by_code(session).items()}
    return [
        RequestView(
            request.number, codes[request.classifier_item_id], request.item.name_uk,
            sections.get(request.item.section_code, ""), request.executor.name_uk, RequestStatus(request.status),
            request.description, request.street, request.house, request.registered_at, request.updated_at,
            request.extended_deadline_at or request.deadline_at, request.lat, request.lon,
            contact_name=request.contact_name, contact_phone=request.contact_phone, flat=request.flat,
        )
        for request in requests
    ]


# --- the export command -----------------------------------------------------------------------------------


def export(session: Session, what: str, fmt: str, *, now: datetime) -> str:
    if what == "announcements":
        views = announcement_views(session, now)
        return exports.announcements_ical(views, now=now) if fmt == "ical" else exports.announcements_json(views)
    if what == "requests-open311":
        rows = exports.open311_requests(all_request_views(session))
        return json.dumps(rows, ensure_ascii=False, indent=2)
    if what == "services-open311":
        return json.dumps(exports.open311_services(default_classifier().current), ensure_ascii=False, indent=2)
    raise ValueError(f"unknown export {what!r}")
