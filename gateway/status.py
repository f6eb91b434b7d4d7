"""What operators ask first: what is pending, failed or dead-lettered, per utility."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.models import DeadLetter, Dispatch


def dispatch_summary(session: Session) -> list[tuple[str, str, int, str]]:
    rows = session.execute(
        select(Dispatch.provider, Dispatch.state, func.count(), func.min(Dispatch.created_at))
        .group_by(Dispatch.provider, Dispatch.state)
        .order_by(Dispatch.provider, Dispatch.state)
    ).all()
    return [(p, s, n, oldest.strftime("%Y-%m-%d %H:%M") if oldest else "") for p, s, n, oldest in rows]


def open_dead_letters(session: Session) -> list[DeadLetter]:
    return list(session.scalars(select(DeadLetter).where(DeadLetter.state == "open").order_by(DeadLetter.id)))
