"""Database rows -> the plain views gateway.exports renders for the city site and chat bots."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import exports
from gateway.announcements import active_announcements
from gateway.classifier import default_classifier
from gateway.exports import AnnouncementView, RequestView
from gateway.models import ClassifierSection, Executor, Request, RequestHistory
from gateway.reference_data import items_by_code
from gateway.statuses import RequestStatus


def announcement_views(session: Session, now: datetime) -> list[AnnouncementView]:
    titles = dict(session.execute(select(Executor.integration, Executor.name_uk)
                                  .where(Executor.integration.is_not(None))).all())
    return [
        AnnouncementView(a.provider, titles.get(a.provider, a.provider), a.notice_id, a.revision, a.kind, a.service,
                         a.title_uk, a.body_uk, a.structured, a.starts_at, a.ends_at, a.state, a.updated_at)
        for a in active_announcements(session, now)
    ]


def request_views(session: Session, limit: int = 1000) -> list[RequestView]:
    sections = dict(session.execute(select(ClassifierSection.code, ClassifierSection.name_uk)).all())
    codes = {item.id: code for code, item in items_by_code(session).items()}
    requests = session.scalars(select(Request).order_by(Request.registered_at.desc()).limit(limit)).all()
    notes: dict[int, str | None] = {}  # the latest status note of each request, in one query
    for request_id, note in session.execute(
        select(RequestHistory.request_id, RequestHistory.note)
        .where(RequestHistory.field == "status", RequestHistory.request_id.in_([r.id for r in requests]))
        .order_by(RequestHistory.id)
    ):
        notes[request_id] = note
    return [
        RequestView(
            request.number, codes[request.classifier_item_id], request.item.name_uk,
            sections.get(request.item.section_code, ""), request.executor.name_uk, RequestStatus(request.status),
            notes.get(request.id), request.description, request.street, request.house, request.registered_at,
            request.updated_at, request.extended_deadline_at or request.deadline_at, request.lat, request.lon,
        )
        for request in requests
    ]


def export(session: Session, what: str, fmt: str, *, now: datetime) -> str:
    if what == "announcements":
        views = announcement_views(session, now)
        return exports.announcements_ical(views, now=now) if fmt == "ical" else exports.announcements_json(views)
    if what == "requests-open311":
        return json.dumps(exports.open311_requests(request_views(session)), ensure_ascii=False, indent=2)
    if what == "services-open311":
        return json.dumps(exports.open311_services(default_classifier().current), ensure_ascii=False, indent=2)
    raise ValueError(f"unknown export {what!r}")
