"""What operators ask first: what is pending, failed or dead-lettered, per utility."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from gateway.models import Announcement, DeadLetter, Dispatch


def dispatch_summary(session: Session) -> list[tuple[str, str, int, str]]:
    rows = session.execute(
        select(Dispatch.provider, Dispatch.state, func.count(), func.min(Dispatch.created_at))
        .group_by(Dispatch.provider, Dispatch.state)
        .order_by(Dispatch.provider, Dispatch.state)
    ).all()
    return [(p, s, n, oldest.strftime("%Y-%m-%d %H:%M") if oldest else "") for p, s, n, oldest in rows]


def open_dead_letters(session: Session) -> list[DeadLetter]:
    return list(session.scalars(select(DeadLetter).where(DeadLetter.state == "open").order_by(DeadLetter.id)))


def late_notices(session: Session, since: datetime) -> list[tuple[str, int, int]]:
    """Per utility: planned works announced since ``since``, and how many of them came late (fewer than
    10 working days ahead) — the figure the weekly report names."""
    rows = session.execute(
        select(Announcement.provider, func.count(), func.sum(case((Announcement.late_notice, 1), else_=0)))
        .where(Announcement.kind == "planned", Announcement.published_at >= since)
        .group_by(Announcement.provider)
        .order_by(Announcement.provider)
    ).all()
    return [(provider, total, int(late or 0)) for provider, total, late in rows]
