"""One announcement pipeline for every utility: a notice of planned or emergency works becomes one
announcement residents can read, updated on a new revision, withdrawn when cancelled, expired when
over. Fetching the same notices twice publishes nothing twice.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.addresses import HouseRange, StreetHouses
from gateway.announcement_text import render
from gateway.connector import PlannedWork
from gateway.models import Announcement, AnnouncementRevision
from gateway.workdays import is_late_notice

ACTIVE, CANCELLED, EXPIRED = "active", "cancelled", "expired"


def addresses_to_json(addresses: tuple[StreetHouses, ...]) -> list[dict[str, Any]]:
    return [asdict(a) for a in addresses]


def addresses_from_json(data: list[dict[str, Any]]) -> list[StreetHouses]:
    return [
        StreetHouses(
            street=a["street"],
            houses=tuple(a.get("houses") or ()),
            ranges=tuple(HouseRange(**r) for r in a.get("ranges") or ()),
            whole_street=bool(a.get("whole_street")),
            note=a.get("note"),
        )
        for a in data
    ]


def _state_for(work: PlannedWork, now: datetime) -> str:
    if work.cancelled:
        return CANCELLED
    if work.ends_at is not None and work.ends_at <= now:
        return EXPIRED
    return ACTIVE


def _apply(announcement: Announcement, work: PlannedWork, provider_title: str, now: datetime) -> None:
    rendered = render(work, provider_title, provider=announcement.provider)
    announcement.revision = work.revision
    announcement.kind = work.kind
    announcement.service = work.service
    announcement.addresses = addresses_to_json(work.addresses)
    announcement.unparsed_lines = list(work.unparsed_lines)
    announcement.starts_at = work.starts_at
    announcement.ends_at = work.ends_at
    announcement.reason = work.reason
    announcement.households = work.households
    announcement.tanker_location = work.tanker_location
    announcement.contact_phone = work.contact_phone
    announcement.district = work.district
    announcement.original_date = work.original_date
    announcement.state = _state_for(work, now)
    announcement.title_uk = rendered.title
    announcement.body_uk = rendered.body
    announcement.structured = rendered.structured
    announcement.updated_at = now
    announced = announcement.announced_at or work.announced_at or now
    announcement.announced_at = announced
    announcement.late_notice = is_late_notice(announced, work.starts_at, work.kind)


def _record_revision(session: Session, announcement: Announcement, now: datetime) -> None:
    session.add(
        AnnouncementRevision(
            announcement_id=announcement.id, revision=announcement.revision, state=announcement.state,
            payload={"title": announcement.title_uk, "body": announcement.body_uk,
                     "structured": announcement.structured},
            recorded_at=now,
        )
    )


def upsert_notice(session: Session, provider: str, provider_title: str, work: PlannedWork, now: datetime) -> str:
    """Publish, revise or withdraw one notice. Returns what happened: created, revised, cancelled,
    unchanged (same or older revision, nothing to publish again)."""
    announcement = session.scalars(
        select(Announcement).where(Announcement.provider == provider, Announcement.notice_id == work.notice_id)
    ).one_or_none()
    if announcement is not None:
        same_state = (announcement.state == CANCELLED) == work.cancelled
        if work.revision < announcement.revision or (work.revision == announcement.revision and same_state):
            return "unchanged"
    created = announcement is None
    if created:
        announcement = Announcement(provider=provider, notice_id=work.notice_id, published_at=now,
                                    announced_at=work.announced_at)
        session.add(announcement)
    _apply(announcement, work, provider_title, now)
    session.flush()
    _record_revision(session, announcement, now)
    if announcement.state == CANCELLED:
        return "cancelled"
    return "created" if created else "revised"


def expire_ended(session: Session, provider: str, now: datetime) -> list[Announcement]:
    """Announcements whose works have ended stop being active on their own."""
    ended = session.scalars(
        select(Announcement).where(
            Announcement.provider == provider,
            Announcement.state == ACTIVE,
            Announcement.ends_at.is_not(None),
            Announcement.ends_at <= now,
        )
    ).all()
    for announcement in ended:
        announcement.state = EXPIRED
        announcement.updated_at = now
        _record_revision(session, announcement, now)
    return list(ended)


def active_announcements(session: Session, now: datetime, provider: str | None = None) -> list[Announcement]:
    query = select(Announcement).where(Announcement.state == ACTIVE).order_by(Announcement.starts_at)
    if provider:
        query = query.where(Announcement.provider == provider)
    return [a for a in session.scalars(query) if a.ends_at is None or a.ends_at > now]
