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
    """The WHERE clause of the open requests a monitor run watches."""
    if scope not in SCOPES:
        raise ValueError(f"unknown monitor scope {scope!r} (known: {', '.join(SCOPES)})")
    condition = Request.status.not_in(list(CLOSED))
    if scope == URGENT:
        keys = sorted(default_rules().hourly_item_keys())
        condition = condition & Request.classifier_item_id.in_(
            select(ClassifierItem.id).where(ClassifierItem.key.in_(keys)).scalar_subquery())
    return condition


def mark_overdue(session: Session, now: datetime, scope: str = CITY) -> list[Request]:
    """Mark every open request of ``scope`` whose deadline passed and is not marked yet; one history
    row each. Returns the requests this call marked.

    One UPDATE ... RETURNING claims them all: it is the transaction's first statement, so on SQLite it
    waits for the write lock instead of failing on a stale read, and on PostgreSQL a concurrent run
    re-checks ``overdue_at IS NULL`` after the first one commits and skips what it marked.
    """
    ids = session.scalars(
        update(Request)
        .where(_open_in_scope(scope), _deadline() < now, Request.overdue_at.is_(None))
        .values(overdue_at=now)
        .returning(Request.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not ids:
        return []
    marked = list(session.scalars(select(Request).where(Request.id.in_(ids)).order_by(Request.id)
                                  .execution_options(populate_existing=True)))
    for request in marked:
        deadline = request.extended_deadline_at or request.deadline_at
        add_history(session, request, actor=MONITOR_ACTOR, field="overdue", old=None,
                    new=deadline.isoformat(), at=now,
                    note=f"протерміновано: термін {deadline:%Y-%m-%d %H:%M} UTC минув, заявка не виконана")
    return marked


def run_monitor(session: Session, now: datetime, scope: str = CITY) -> MonitorResult:
    """One monitor run: mark the newly overdue, then record a snapshot of the scope."""
    newly = mark_overdue(session, now, scope)
    open_rows = session.execute(select(Request.executor_id, _deadline() < now).where(_open_in_scope(scope))).all()
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
