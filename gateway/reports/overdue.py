"""The deadline monitor (decision 6.1): which open requests are past their (extended) deadline.

Each run marks the requests that became overdue since the last one, each with one history row, and
records a snapshot. The mark is a conditional UPDATE (``overdue_at IS NULL``), so two runs at once
(the daily city-wide one and the hourly one for emergency and SOS items) never mark a request twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gateway.deadlines import default_rules
from gateway.models import ClassifierItem, Request
from gateway.reports.models import DeadlineSnapshot
from gateway.statuses import CLOSED
from gateway.sync.bookkeeping import add_history

CITY, URGENT = "city", "urgent"
SCOPES = (CITY, URGENT)
MONITOR_ACTOR = "monitor:deadlines"


@dataclass(frozen=True)
class MonitorResult:
    scope: str
    open_requests: int
    overdue: int
    newly_overdue: int
    snapshot_id: int


def _deadline():
    return func.coalesce(Request.extended_deadline_at, Request.deadline_at)


def _open_in_scope(scope: str):
    if scope not in SCOPES:
        raise ValueError(f"unknown monitor scope {scope!r} (known: {', '.join(SCOPES)})")
    query = select(Request).where(Request.status.not_in(list(CLOSED)))
    if scope == URGENT:
        keys = sorted(default_rules().hourly_item_keys())
        query = query.join(ClassifierItem, ClassifierItem.id == Request.classifier_item_id).where(
            ClassifierItem.key.in_(keys))
    return query


def mark_overdue(session: Session, now: datetime, scope: str = CITY) -> list[Request]:
    """Mark every open request of ``scope`` whose deadline passed and is not marked yet; one history
    row each. Returns the requests this call marked."""
    candidates = session.scalars(
        _open_in_scope(scope).where(_deadline() < now, Request.overdue_at.is_(None)).order_by(Request.id)
    ).all()
    marked = []
    for request in candidates:
        won = session.execute(
            update(Request).where(Request.id == request.id, Request.overdue_at.is_(None))
            .values(overdue_at=now).execution_options(synchronize_session=False)
        ).rowcount
        if not won:
            continue  # another monitor run marked it first
        session.refresh(request, ["overdue_at"])
        deadline = request.extended_deadline_at or request.deadline_at
        add_history(session, request, actor=MONITOR_ACTOR, field="overdue", old=None,
                    new=deadline.isoformat(), at=now,
                    note=f"протерміновано: термін {deadline:%Y-%m-%d %H:%M} UTC минув, заявка не виконана")
        marked.append(request)
    return marked


def run_monitor(session: Session, now: datetime, scope: str = CITY) -> MonitorResult:
    """One monitor run: mark the newly overdue, then record a snapshot of the scope."""
    newly = mark_overdue(session, now, scope)
    open_rows = session.execute(
        _open_in_scope(scope).with_only_columns(Request.executor_id, _deadline() < now)
    ).all()
    per_executor: dict[str, Counter[str]] = {}
    for executor_id, overdue in open_rows:
        counts = per_executor.setdefault(executor_id, Counter())
        counts["open"] += 1
        counts["overdue"] += bool(overdue)
    overdue_total = sum(c["overdue"] for c in per_executor.values())
    snapshot = DeadlineSnapshot(
        taken_at=now, scope=scope, open_requests=len(open_rows), overdue=overdue_total, newly_overdue=len(newly),
        by_executor={k: {"open": v["open"], "overdue": v["overdue"]} for k, v in sorted(per_executor.items())},
    )
    session.add(snapshot)
    session.flush()
    return MonitorResult(scope, len(open_rows), overdue_total, len(newly), snapshot.id)
