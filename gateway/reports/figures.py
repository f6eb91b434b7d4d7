"""Per-executor figures of a period, read from the requests and their history.

The history is the record for every executor: a utility's statuses arrive there through its sync
(``sync:<utility>``), the contact centre's operators write there for the executors that work in its
own program. Figures are taken *as of* the period's end (or now, for a period not over yet), so a
report for last week says the same thing whenever it is run.

Definitions (what the department reads in the report's legend):
- received: registered in the period;
- done on time / done late: the executor's work ended (a closed status, gateway.statuses.CLOSED) in
  the period, at or before / after the (extended) deadline; a request returned for rework and closed
  again counts once, at its last closing;
- open / open and overdue: not closed at the period's end / and past its (extended) deadline then;
- time to done: from registration to the closing, over the requests done in the period;
- returned for rework: changes to «на доопрацюванні» in the period;
- repeat requests: requests that joined a known outage or an open job in the period (gateway.linking);
- late planned-works notices: planned works the executor's utility announced in the period fewer
  than 10 working days ahead;
- share on time: done on time / (done on time + done late + open and overdue).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gateway.deadlines import effective_deadline
from gateway.models import Announcement, ClassifierItem, Executor, Request, RequestHistory
from gateway.reference_data import code_of, load_executor_rows
from gateway.reports.periods import Period
from gateway.statuses import CLOSED, RequestStatus

OUTAGE, OPEN_JOB = "outage", "open_job"


@dataclass(frozen=True)
class OverdueRequest:
    number: str
    item_code: str
    item_name: str
    address: str
    registered_at: datetime
    deadline: datetime
    extended: bool
    status: str
    hours_overdue: float


@dataclass
class ExecutorFigures:
    executor_id: str
    name_uk: str
    integration: str | None
    received: int = 0
    done_on_time: int = 0
    done_late: int = 0
    open: int = 0
    open_overdue: int = 0
    hours_to_done: list[float] = field(default_factory=list)
    rework: int = 0
    repeat_outage: int = 0
    repeat_open_job: int = 0
    planned_notices: int = 0
    late_notices: int = 0
    overdue: list[OverdueRequest] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.done_on_time + self.done_late

    @property
    def repeat(self) -> int:
        return self.repeat_outage + self.repeat_open_job

    @property
    def median_hours(self) -> float | None:
        return statistics.median(self.hours_to_done) if self.hours_to_done else None

    @property
    def p90_hours(self) -> float | None:
        return nearest_rank(self.hours_to_done, 0.9)

    @property
    def on_time_share(self) -> float | None:
        due = self.done_on_time + self.done_late + self.open_overdue
        return self.done_on_time / due if due else None


@dataclass(frozen=True)
class ItemRepeats:
    executor_id: str
    item_code: str
    item_name: str
    outage: int
    open_job: int


@dataclass
class PeriodFigures:
    period: Period
    as_of: datetime
    executors: list[ExecutorFigures]
    repeats_by_item: list[ItemRepeats]

    def executor(self, executor_id: str) -> ExecutorFigures:
        return next(e for e in self.executors if e.executor_id == executor_id)


def nearest_rank(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``share`` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class _Life:
    """A request's status line up to the report moment, rebuilt from its history."""

    status: str = RequestStatus.REGISTERED
    closed_at: datetime | None = None
    reworks_in_period: int = 0


def _lives(session: Session, ids: list[int], period: Period, as_of: datetime) -> dict[int, _Life]:
    lives: dict[int, _Life] = defaultdict(_Life)
    for chunk in range(0, len(ids), 500):
        rows = session.execute(
            select(RequestHistory.request_id, RequestHistory.at, RequestHistory.new_value)
            .where(RequestHistory.request_id.in_(ids[chunk:chunk + 500]), RequestHistory.field == "status",
                   RequestHistory.at < as_of)
            .order_by(RequestHistory.request_id, RequestHistory.at, RequestHistory.id)
        )
        for request_id, at, new in rows:
            life = lives[request_id]
            was_closed = life.status in CLOSED
            life.status = new or life.status
            if life.status in CLOSED and not was_closed:
                life.closed_at = at
            elif life.status not in CLOSED:
                life.closed_at = None
            if new == RequestStatus.REWORK and at >= period.start:
                life.reworks_in_period += 1
    return lives


def _executors(session: Session) -> dict[str, ExecutorFigures]:
    """Every executor of the data file, then any other the database holds (none is left out)."""
    found = {r["id"]: ExecutorFigures(r["id"], r["name_uk"], r["integration"]) for r in load_executor_rows()}
    for executor in session.scalars(select(Executor).order_by(Executor.id)):
        found.setdefault(executor.id, ExecutorFigures(executor.id, executor.name_uk, executor.integration))
    return found


def compute(session: Session, period: Period, now: datetime) -> PeriodFigures:
    """Every figure of every executor for ``period``, as of its end (or ``now`` if earlier)."""
    as_of = min(period.end, now)
    figures = _executors(session)
    relevant = session.scalars(
        select(Request).where(
            Request.registered_at < as_of,
            or_(Request.updated_at >= period.start, Request.status.not_in(list(CLOSED))),
        ).order_by(Request.id)
    ).all()
    lives = _lives(session, [r.id for r in relevant], period, as_of)
    codes: dict[int, str] = {}
    for request in relevant:
        row = figures.get(request.executor_id)
        if row is None:
            continue
        life = lives[request.id]
        deadline = effective_deadline(request)
        if request.registered_at >= period.start:
            row.received += 1
        row.rework += life.reworks_in_period
        if life.status in CLOSED:
            if life.closed_at is not None and life.closed_at >= period.start:
                row.hours_to_done.append((life.closed_at - request.registered_at).total_seconds() / 3600)
                if life.closed_at <= deadline:
                    row.done_on_time += 1
                else:
                    row.done_late += 1
            continue
        row.open += 1
        if deadline < as_of:
            row.open_overdue += 1
            code = codes.setdefault(request.classifier_item_id, code_of(session, request.classifier_item_id))
            row.overdue.append(OverdueRequest(
                number=request.number, item_code=code, item_name=request.item.name_uk,
                address=f"{request.street}, {request.house}", registered_at=request.registered_at,
                deadline=deadline, extended=request.extended_deadline_at is not None, status=life.status,
                hours_overdue=round((as_of - deadline).total_seconds() / 3600, 1),
            ))
    for row in figures.values():
        row.overdue.sort(key=lambda o: o.deadline)
    repeats = _repeats(session, period, as_of, figures)
    _late_notices(session, period, as_of, figures)
    return PeriodFigures(period, as_of, list(figures.values()), repeats)


def _repeats(session: Session, period: Period, as_of: datetime,
             figures: dict[str, ExecutorFigures]) -> list[ItemRepeats]:
    """Calls answered by a known outage or joined to an open job (decision 2.2), per executor and item."""
    rows = session.execute(
        select(Request.id, Request.executor_id, Request.classifier_item_id, ClassifierItem.name_uk,
               RequestHistory.new_value)
        .join(RequestHistory, RequestHistory.request_id == Request.id)
        .join(ClassifierItem, ClassifierItem.id == Request.classifier_item_id)
        .where(RequestHistory.field == "link", RequestHistory.new_value.is_not(None),
               RequestHistory.at >= period.start, RequestHistory.at < as_of)
        .order_by(RequestHistory.id)
    ).all()
    seen: set[int] = set()
    per_item: Counter[tuple[str, int, str, str]] = Counter()
    for request_id, executor_id, item_id, item_name, joined in rows:
        if request_id in seen or executor_id not in figures:
            continue  # a request linked, reopened and linked again is one repeat call
        seen.add(request_id)
        kind = OUTAGE if joined.startswith("announcement") else OPEN_JOB
        if kind == OUTAGE:
            figures[executor_id].repeat_outage += 1
        else:
            figures[executor_id].repeat_open_job += 1
        per_item[(executor_id, item_id, item_name, kind)] += 1
    items: dict[tuple[str, int, str], dict[str, int]] = defaultdict(lambda: {OUTAGE: 0, OPEN_JOB: 0})
    for (executor_id, item_id, item_name, kind), count in per_item.items():
        items[(executor_id, item_id, item_name)][kind] += count
    result = [ItemRepeats(executor_id, code_of(session, item_id), name, c[OUTAGE], c[OPEN_JOB])
              for (executor_id, item_id, name), c in items.items()]
    return sorted(result, key=lambda r: (r.executor_id, _code_order(r.item_code)))


def _code_order(code: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in code.split("."))


def _late_notices(session: Session, period: Period, as_of: datetime, figures: dict[str, ExecutorFigures]) -> None:
    by_provider = {f.integration: f for f in figures.values() if f.integration}
    rows = session.execute(
        select(Announcement.provider, Announcement.late_notice)
        .where(Announcement.kind == "planned",
               and_(Announcement.published_at >= period.start, Announcement.published_at < as_of))
    ).all()
    for provider, late in rows:
        row = by_provider.get(provider) or figures.get(provider)
        if row is None:
            continue
        row.planned_notices += 1
        row.late_notices += bool(late)
