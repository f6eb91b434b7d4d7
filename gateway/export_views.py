"""Database rows -> the plain views gateway.exports renders for the city site and chat bots."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import exports
from gateway.announcements import active_announcements
from gateway.classifier import default_classifier
from gateway.models import ClassifierSection, Executor, Request, RequestHistory
from gateway.reference_data import code_of
from gateway.statuses import RequestStatus


@dataclass(frozen=True)
class AnnouncementView:
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


def announcement_views(session: Session, now: datetime) -> list[AnnouncementView]:
    titles = dict(session.execute(select(Executor.integration, Executor.name_uk)
                                  .where(Executor.integration.is_not(None))).tuples().all())
    return [
        AnnouncementView(a.provider, titles.get(a.provider, a.provider), a.notice_id, a.revision, a.kind, a.service,
                         a.title_uk, a.body_uk, a.structured, a.starts_at, a.ends_at, a.state, a.updated_at)
        for a in active_announcements(session, now)
    ]


def request_views(session: Session, limit: int = 1000) -> list[RequestView]:
    sections = dict(session.execute(select(ClassifierSection.code, ClassifierSection.name_uk)).tuples().all())
    views = []
    for request in session.scalars(select(Request).order_by(Request.registered_at.desc()).limit(limit)):
        note = session.scalar(
            select(RequestHistory.note).where(RequestHistory.request_id == request.id, RequestHistory.field == "status")
            .order_by(RequestHistory.id.desc()).limit(1)
        )
        views.append(RequestView(
            request.number, code_of(session, request.classifier_item_id), request.item.name_uk,
            sections.get(request.item.section_code, ""), request.executor.name_uk, RequestStatus(request.status),
            note, request.description, request.street, request.house, request.registered_at, request.updated_at,
            request.extended_deadline_at or request.deadline_at, request.lat, request.lon,
        ))
    return views


def export(session: Session, what: str, fmt: str, *, now: datetime) -> str:
    if what == "announcements":
        views = announcement_views(session, now)
        return exports.announcements_ical(views, now=now) if fmt == "ical" else exports.announcements_json(views)
    if what == "requests-open311":
        return json.dumps(exports.open311_requests(request_views(session)), ensure_ascii=False, indent=2)
    if what == "services-open311":
        return json.dumps(exports.open311_services(default_classifier().current), ensure_ascii=False, indent=2)
    raise ValueError(f"unknown export {what!r}")
