"""What operators ask first: is every utility in step, and if not, what does a person have to do?

``utility_status`` reads only the gateway's own tables (gw_dispatches, gw_sync_runs, gw_dead_letters,
gw_circuit_breakers) and the requests not yet handed over, so the same figures serve
``gateway status``, ``gateway metrics`` and the page inside the Airflow UI.

When a person is needed (the rule ``needs_person`` returns reasons for; docs/operations.md explains
each): open dead letters (unmapped items among them), a circuit breaker that is not closed, a request
waiting longer than the stale window, a step whose latest run failed with no good run within the stale
window, or no good status pull within it. The stale window is three of the utility's longest schedule
gaps, at least 15 minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from gateway.breaker import CLOSED
from gateway.models import Announcement, CircuitBreaker, DeadLetter, Dispatch, Executor, Request, SyncRun
from gateway.registry import Manifest
from gateway.schedules import longest_gap
from gateway.statuses import RequestStatus
from gateway.sync import states

PUSH_STEP = "push_jobs"
STATUS_STEP = "pull_status_changes"
PULL_STEPS = (STATUS_STEP, "pull_planned_works")
DEFAULT_SCHEDULE = "*/10 * * * *"
MIN_STALE = timedelta(minutes=15)
STALE_SCHEDULES = 3
# How push.py words a request whose classifier item the utility's mapping does not serve.
UNMAPPED_MARK = "is not served by"


@dataclass
class UtilityStatus:
    """One utility at a glance. Times are aware UTC; ages and lags are seconds."""

    utility: str
    pending: int = 0  # requests not yet at the utility: claimable dispatches + registered, not enqueued
    oldest_pending_age_s: float | None = None
    last_good_push: datetime | None = None
    last_good_pull: datetime | None = None  # status changes or planned works
    status_lag_s: float | None = None  # now - the last good status pull: how old statuses may be
    failures_24h: int = 0
    dead_letters: int = 0  # open ones
    unmapped: int = 0  # open dead letters of requests whose item the mapping does not serve
    breaker: str = CLOSED
    stale_after_s: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def needs_person(self) -> bool:
        return bool(self.reasons)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_good_push", "last_good_pull"):
            data[key] = data[key].isoformat() if data[key] else None
        data["needs_person"] = self.needs_person
        return data


def stale_window(schedule: str | None) -> timedelta:
    return max(MIN_STALE, STALE_SCHEDULES * longest_gap(schedule or DEFAULT_SCHEDULE))


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def _human(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _good_runs(session: Session, providers: list[str]) -> dict[tuple[str, str], datetime]:
    """The latest finish of a good run per (utility, step); a run the open breaker skipped is not good."""
    skipped = func.coalesce(SyncRun.counts["circuit_open"].as_integer(), 0)
    rows = session.execute(
        select(SyncRun.provider, SyncRun.step, func.max(SyncRun.finished_at))
        .where(SyncRun.provider.in_(providers), SyncRun.outcome == "ok", skipped == 0)
        .group_by(SyncRun.provider, SyncRun.step)
    ).all()
    return {(provider, step): at for provider, step, at in rows}


def _latest_outcomes(session: Session, providers: list[str]) -> dict[tuple[str, str], tuple[str, str | None]]:
    latest = (
        select(func.max(SyncRun.id)).where(SyncRun.provider.in_(providers), SyncRun.outcome != "running")
        .group_by(SyncRun.provider, SyncRun.step)
    )
    rows = session.execute(
        select(SyncRun.provider, SyncRun.step, SyncRun.outcome, SyncRun.error).where(SyncRun.id.in_(latest))
    ).all()
    return {(provider, step): (outcome, error) for provider, step, outcome, error in rows}


def _counted(session: Session, query) -> dict[str, Any]:
    return dict(session.execute(query).tuples().all())


def utility_status(session: Session, registry: dict[str, Manifest], now: datetime) -> list[UtilityStatus]:
    """Every registered utility, and any other one the gateway's tables know of, in name order."""
    known = set(registry)
    known |= set(session.scalars(select(Dispatch.provider).distinct()))
    known |= set(session.scalars(select(DeadLetter.provider).where(DeadLetter.state == "open").distinct()))
    providers = sorted(known)
    if not providers:
        return []

    claimable = _counted(session, select(Dispatch.provider, func.count()).where(
        Dispatch.provider.in_(providers), Dispatch.state.in_(states.CLAIMABLE)).group_by(Dispatch.provider))
    claimable_since = _counted(session, select(Dispatch.provider, func.min(Dispatch.created_at)).where(
        Dispatch.provider.in_(providers), Dispatch.state.in_(states.CLAIMABLE)).group_by(Dispatch.provider))
    has_dispatch = exists().where(Dispatch.request_id == Request.id, Dispatch.provider == Executor.integration)
    waiting = session.execute(
        select(Executor.integration, func.count(), func.min(Request.registered_at))
        .join(Request, Request.executor_id == Executor.id)
        .where(Executor.integration.in_(providers), Request.status == RequestStatus.REGISTERED, ~has_dispatch)
        .group_by(Executor.integration)
    ).all()
    not_enqueued = {p: (n, since) for p, n, since in waiting}
    failures = _counted(session, select(SyncRun.provider, func.count()).where(
        SyncRun.provider.in_(providers), SyncRun.outcome == "failed",
        SyncRun.started_at >= now - timedelta(hours=24)).group_by(SyncRun.provider))
    letters = session.execute(
        select(DeadLetter.provider, func.count(),
               func.sum(case((DeadLetter.message.contains(UNMAPPED_MARK), 1), else_=0)))
        .where(DeadLetter.provider.in_(providers), DeadLetter.state == "open")
        .group_by(DeadLetter.provider)
    ).all()
    open_letters = {p: (n, int(unmapped or 0)) for p, n, unmapped in letters}
    breakers = {b.provider: b for b in session.scalars(
        select(CircuitBreaker).where(CircuitBreaker.provider.in_(providers)))}
    good = _good_runs(session, providers)
    latest = _latest_outcomes(session, providers)
    sent = _counted(session, select(Dispatch.provider, func.count()).where(
        Dispatch.provider.in_(providers), Dispatch.state == states.SENT).group_by(Dispatch.provider))

    result = []
    for provider in providers:
        manifest = registry.get(provider)
        stale = stale_window(manifest.schedule if manifest else None)
        extra, extra_since = not_enqueued.get(provider, (0, None))
        oldest = min((t for t in (claimable_since.get(provider), extra_since) if t is not None), default=None)
        pulls = [good[(provider, s)] for s in PULL_STEPS if (provider, s) in good]
        status_pull = good.get((provider, STATUS_STEP))
        dead, unmapped = open_letters.get(provider, (0, 0))
        breaker = breakers.get(provider)
        row = UtilityStatus(
            utility=provider,
            pending=claimable.get(provider, 0) + extra,
            oldest_pending_age_s=_age(now, oldest),
            last_good_push=good.get((provider, PUSH_STEP)),
            last_good_pull=max(pulls) if pulls else None,
            status_lag_s=_age(now, status_pull),
            failures_24h=failures.get(provider, 0),
            dead_letters=dead,
            unmapped=unmapped,
            breaker=breaker.state if breaker else CLOSED,
            stale_after_s=stale.total_seconds(),
        )
        row.reasons = needs_person(row, {s: o for (p, s), o in latest.items() if p == provider},
                                   {s: t for (p, s), t in good.items() if p == provider},
                                   sent.get(provider, 0), now)
        result.append(row)
    return result


def needs_person(row: UtilityStatus, latest: dict[str, tuple[str, str | None]], good: dict[str, datetime],
                 sent: int, now: datetime) -> list[str]:
    """Why a person must look at this utility; empty when the gateway copes on its own."""
    stale = timedelta(seconds=row.stale_after_s)
    reasons = []
    if row.dead_letters:
        reasons.append(f"{row.dead_letters} open dead letter(s): see `gateway dlq list --provider {row.utility}`")
    if row.unmapped:
        reasons.append(f"{row.unmapped} request(s) on items the mapping does not serve: re-route or map them")
    if row.breaker != CLOSED:
        reasons.append(f"circuit breaker {row.breaker}: the utility is failing, calls are suspended")
    if row.oldest_pending_age_s is not None and row.oldest_pending_age_s > stale.total_seconds():
        reasons.append(f"a request has waited {_human(row.oldest_pending_age_s)} to reach the utility "
                       f"(stale after {_human(stale.total_seconds())})")
    for step, (outcome, error) in sorted(latest.items()):
        last_ok = good.get(step)
        if outcome == "failed" and (last_ok is None or now - last_ok > stale):
            # the error's class only: its text can quote a utility's reply, and this line is public
            kind = (error or "error").split(":", 1)[0]
            reasons.append(f"{step} keeps failing ({kind}): see gw_sync_runs and the task log")
    if sent and row.status_lag_s is not None and row.status_lag_s > stale.total_seconds():
        reasons.append(f"no good status pull for {_human(row.status_lag_s)}")
    return reasons


def open_dead_letters(session: Session, limit: int | None = None) -> list[DeadLetter]:
    query = select(DeadLetter).where(DeadLetter.state == "open").order_by(DeadLetter.id)
    return list(session.scalars(query.limit(limit) if limit else query))


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
