"""Push: new requests become jobs at the utility, each exactly once.

The order of writes is what makes a crash safe: a dispatch is marked ``in_flight`` and committed
before the create call, so a run that dies after the call leaves a trace that the next run resolves
by looking the job up (by our reference) before it would ever create again.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.connector import CreateResult, JobDraft, RemoteJob
from gateway.db import is_postgres
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError, error_class_name
from gateway.linking import link_if_known, release_reopened
from gateway.models import DeadLetter, Dispatch, Executor, Request
from gateway.reference_data import code_of
from gateway.statuses import RequestStatus
from gateway.sync import states
from gateway.sync.bookkeeping import add_history, record_dead_letter, set_request_status
from gateway.sync.context import SyncContext
from gateway.sync.retry import call_with_retry

MAX_REFUSED_LOOKUPS = 8  # attempts after which a dispatch whose lookups are refused goes to a person
PRIORITY_BY_URGENCY = {"urgent_emergency": "emergency", "emergency": "urgent", "ordinary": "normal"}
_NAMESPACE = uuid.UUID("5f0b1c1e-1520-4b7e-9c1a-6b72797669a0")


def idempotency_key(provider: str, request_number: str) -> str:
    """Stable for the life of a dispatch, so every retry of a create carries the same key."""
    return str(uuid.uuid5(_NAMESPACE, f"{provider}:{request_number}"))


def _insert_ignore(session: Session):
    return (postgresql.insert if is_postgres(session) else sqlite.insert)(Dispatch)


def enqueue_new_requests(ctx: SyncContext, counts: Counter[str], *, limit: int = 1000) -> None:
    """Give every registered request of this utility's executor a dispatch (once: a unique key).

    A request whose item the mapping does not serve is never sent: it is dead-lettered, naming the
    item and the mapping file, for a person to re-route or fix the mapping and replay.
    """
    now = ctx.clock()
    with ctx.sessions() as session, session.begin():
        if reopened := release_reopened(session, ctx, now):
            counts["reopened"] += reopened
        has_dispatch = exists().where(Dispatch.request_id == Request.id, Dispatch.provider == ctx.provider)
        rows = session.scalars(
            select(Request)
            .join(Executor, Executor.id == Request.executor_id)
            .where(Executor.integration == ctx.provider, Request.status == RequestStatus.REGISTERED, ~has_dispatch)
            .order_by(Request.id)
            .limit(limit)
        ).all()
        for request in rows:
            rule = ctx.mapping.rule_for_item(request.item.key)
            state = states.PENDING if rule else states.DEAD
            session.execute(
                _insert_ignore(session)
                .values(
                    request_id=request.id, provider=ctx.provider, reference=request.number,
                    idempotency_key=idempotency_key(ctx.provider, request.number), state=state, attempts=0,
                    next_attempt_at=now, created_at=now, updated_at=now,
                )
                .on_conflict_do_nothing()
            )
            if rule is None:
                code = code_of(session, request.classifier_item_id)
                record_dead_letter(
                    session, provider=ctx.provider, stream="jobs", item_key=request.number, request_id=request.id,
                    payload={"request": request.number, "classifier_code": code},
                    error_class="permanent",
                    message=f"classifier item {code} ({request.item.name_uk}) is not served by {ctx.provider}: "
                    f"no entry in {ctx.mapping.path.name}",
                    now=now,
                )
                counts["unmapped"] += 1
                continue
            counts["enqueued"] += 1
        session.flush()
        for request in rows:
            if ctx.mapping.rule_for_item(request.item.key) and link_if_known(session, ctx, request, now):
                counts["linked"] += 1


def claim_batch(ctx: SyncContext, limit: int) -> list[int]:
    """Take up to ``limit`` due dispatches for this run. On PostgreSQL, SKIP LOCKED lets parallel
    workers pass each other's rows; the lease is set by a conditional UPDATE, so even where there are
    no row locks (SQLite) two workers can never both claim one dispatch."""
    now = ctx.clock()
    due = or_(Dispatch.lease_until.is_(None), Dispatch.lease_until < now)
    with ctx.sessions() as session, session.begin():
        query = (
            select(Dispatch.id)
            .where(Dispatch.provider == ctx.provider, Dispatch.state.in_(states.CLAIMABLE),
                   Dispatch.next_attempt_at <= now, due)
            .order_by(Dispatch.id)
            .limit(limit)
        )
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for dispatch_id in session.scalars(query).all():
            taken = session.execute(
                update(Dispatch).where(Dispatch.id == dispatch_id, due).values(lease_until=now + ctx.lease)
            )
            if taken.rowcount == 1:
                claimed.append(dispatch_id)
        return claimed


def build_draft(ctx: SyncContext, request: Request, dispatch: Dispatch, code: str) -> JobDraft:
    """The job as the utility will see it: only the resident data its mapping sends."""
    rule = ctx.mapping.rule_for_item(request.item.key)
    if rule is None:  # e.g. a dead letter retried before its mapping was fixed
        raise PermanentError(f"classifier item {code} is not served by {ctx.provider}: "
                             f"no entry in {ctx.mapping.path.name}")
    send = ctx.mapping.send_fields
    return JobDraft(
        reference=dispatch.reference,
        idempotency_key=dispatch.idempotency_key,
        classifier_code=code,
        job_type=rule.job_type,
        priority=rule.priority,  # type: ignore[arg-type]
        street=request.street,
        house=request.house,
        description=request.description,
        reported_at=request.registered_at,
        deadline_at=request.extended_deadline_at or request.deadline_at,
        flat=request.flat if "flat" in send else None,
        lat=request.lat if "coordinates" in send else None,
        lon=request.lon if "coordinates" in send else None,
        contact_phone=request.contact_phone if "contact_phone" in send else None,
    )


def _backoff(ctx: SyncContext, attempts: int) -> datetime:
    return ctx.clock() + timedelta(seconds=min(3600, 30 * 2 ** min(attempts, 7)))


def mark_sent(session: Session, ctx: SyncContext, dispatch: Dispatch, job: RemoteJob | CreateResult) -> None:
    now = ctx.clock()
    dispatch.job_id = job.job_id
    dispatch.state = states.SENT
    dispatch.pending_token = None
    dispatch.provider_status = job.status or dispatch.provider_status
    dispatch.sent_at = dispatch.sent_at or now
    dispatch.last_error = None
    dispatch.lease_until = None
    dispatch.updated_at = now
    request = dispatch.request
    if request.status == RequestStatus.REGISTERED:
        set_request_status(session, request, RequestStatus.SENT, actor=ctx.actor, at=now,
                           note=f"{ctx.manifest.title}: job {job.job_id}")
    # A dead letter about this job's create is settled: the job exists after all.
    session.execute(
        update(DeadLetter)
        .where(DeadLetter.provider == ctx.provider, DeadLetter.stream == "jobs",
               DeadLetter.item_key == dispatch.reference, DeadLetter.state == "open")
        .values(state="resolved", last_seen_at=now)
    )


def _lookup(ctx: SyncContext, reference: str) -> RemoteJob | None:
    """The job behind our reference, if the utility has one; the earliest if it somehow has several."""
    jobs = call_with_retry(lambda: ctx.connector.find_jobs(reference), ctx.retry,
                           retry_on=(RetriableError, AmbiguousError))
    if not jobs:
        return None
    if len(jobs) > 1:
        ctx.log.error("%s holds %d jobs for %s: %s", ctx.provider, len(jobs), reference, [j.job_id for j in jobs])
    return min(jobs, key=lambda j: (j.created_at is None, j.created_at or 0, j.job_id))


def _start_attempt(ctx: SyncContext, dispatch_id: int) -> tuple[str, JobDraft | None, str | None]:
    """Mark the dispatch in flight (committed before any call); return its previous state and draft."""
    unmapped: PermanentError | None = None
    with ctx.sessions() as session, session.begin():
        dispatch = session.get(Dispatch, dispatch_id)
        previous = dispatch.state
        if previous not in states.CLAIMABLE:
            return previous, None, None
        try:
            draft = build_draft(ctx, dispatch.request, dispatch, code_of(session, dispatch.request.classifier_item_id))
        except PermanentError as exc:
            unmapped = exc
        else:
            if previous != states.AWAITING:
                dispatch.state = states.IN_FLIGHT
            dispatch.attempts += 1
            dispatch.updated_at = ctx.clock()
            return previous, draft, dispatch.pending_token
    _finish(ctx, dispatch_id, state=states.DEAD, error=unmapped)
    return states.DEAD, None, None


def _finish(ctx: SyncContext, dispatch_id: int, *, job: RemoteJob | CreateResult | None = None,
            state: str | None = None, error: BaseException | None = None, token: str | None = None,
            not_before: datetime | None = None) -> None:
    with ctx.sessions() as session, session.begin():
        dispatch = session.get(Dispatch, dispatch_id)
        if job is not None and job.job_id:
            mark_sent(session, ctx, dispatch, job)
            return
        now = ctx.clock()
        if token:
            dispatch.pending_token = token
        dispatch.state = state or dispatch.state
        dispatch.lease_until = None
        dispatch.updated_at = now
        if state == states.AWAITING:
            dispatch.next_attempt_at = now
        if error is not None:
            dispatch.last_error = f"{error_class_name(error)}: {error}"
            if state in (states.PENDING, states.UNKNOWN):
                dispatch.next_attempt_at = max(_backoff(ctx, dispatch.attempts), not_before or now)
        if state == states.DEAD:
            draft_payload = {"reference": dispatch.reference, "provider": ctx.provider,
                             "detail": getattr(error, "detail", None)}
            record_dead_letter(
                session, provider=ctx.provider, stream="jobs", item_key=dispatch.reference,
                request_id=dispatch.request_id, payload=draft_payload, error_class=error_class_name(error),
                message=str(error), now=now,
            )
            add_history(session, dispatch.request, actor=ctx.actor, field="dispatch", old=None, new="refused",
                        note=f"{ctx.manifest.title} refused the job: {error}", at=now)


def _settled_by_lookup(ctx: SyncContext, dispatch_id: int, reference: str, counts: Counter[str]) -> bool:
    """Look the job up by our reference. True when that settled the dispatch: the job was found
    (sent), the lookup failed (unknown, for a later run) or was refused (dead letter, for a person).
    False: the utility holds no such job."""
    try:
        found = _lookup(ctx, reference)
    except (RetriableError, AmbiguousError) as exc:
        _finish(ctx, dispatch_id, state=states.UNKNOWN, error=exc)
        counts["unknown"] += 1
        return True
    except PermanentError as exc:
        # A refused lookup says nothing about the job: try again later; only a lookup refused again
        # and again goes to a person (with the job possibly at the utility: a change from it adopts it).
        error = PermanentError(f"cannot tell whether the job exists: lookup refused ({exc})")
        with ctx.sessions() as session:
            attempts = session.get(Dispatch, dispatch_id).attempts
        if attempts >= MAX_REFUSED_LOOKUPS:
            _finish(ctx, dispatch_id, state=states.DEAD, error=error)
            counts["dead_lettered"] += 1
        else:
            _finish(ctx, dispatch_id, state=states.UNKNOWN, error=error)
            counts["unknown"] += 1
        return True
    if found is None:
        return False
    _finish(ctx, dispatch_id, job=found)
    counts["created"] += 1
    counts["resolved_by_lookup"] += 1
    return True


def _settle_delay(ctx: SyncContext) -> timedelta:
    """How long an unanswered create may still be committing at the utility: past this, a lookup that
    finds nothing proves the create did not land."""
    timeouts = ctx.connector.timeouts
    return timedelta(seconds=max(60.0, 3 * (timeouts.read + timeouts.connect)))


def _create(ctx: SyncContext, dispatch_id: int, draft: JobDraft, counts: Counter[str]) -> None:
    """Create once; an ambiguous end is settled by lookup, and only a proven absence creates again.

    Where the utility's create is idempotent (a key or our reference makes a repeat harmless) a lookup
    that finds nothing lets the create be repeated at once. Where it is not, an empty lookup right
    after a timeout proves nothing: the first create may still be committing. The dispatch then waits
    (unknown) until that cannot be so any more, and a later lookup decides.
    """
    for round_ in (1, 2):
        try:
            result = call_with_retry(lambda: ctx.connector.create_job(draft), ctx.retry)
        except AmbiguousError as exc:
            counts["ambiguous"] += 1
            ctx.log.warning("create of %s ended ambiguously (%s); looking it up", draft.reference, exc)
            if _settled_by_lookup(ctx, dispatch_id, draft.reference, counts):
                return
            if round_ == 2 or not ctx.connector.idempotent_create:
                _finish(ctx, dispatch_id, state=states.UNKNOWN, error=exc,
                        not_before=ctx.clock() + _settle_delay(ctx))
                counts["unknown"] += 1
                return
            continue  # absent, and a repeat cannot double: one more try in this run
        except RetriableError as exc:
            _finish(ctx, dispatch_id, state=states.PENDING, error=exc)
            counts["retry_later"] += 1
            return
        except PermanentError as exc:
            _finish(ctx, dispatch_id, state=states.DEAD, error=exc)
            counts["dead_lettered"] += 1
            return
        if result.job_id:
            _finish(ctx, dispatch_id, job=result)
            counts["created"] += 1
        else:
            _finish(ctx, dispatch_id, state=states.AWAITING, token=result.pending_token)
            counts["awaiting"] += 1
        return


def _resolve_awaiting(ctx: SyncContext, dispatch_id: int, token: str | None, reference: str,
                      counts: Counter[str]) -> bool:
    """Ask for the job behind an asynchronous token; True once it has an id."""
    try:
        job = call_with_retry(lambda: ctx.connector.resolve_pending(token), ctx.retry,
                              retry_on=(RetriableError, AmbiguousError)) if token else None
        if job is None and not token:
            job = _lookup(ctx, reference)
    except PermanentError:
        job = _lookup(ctx, reference)  # the token is gone; our reference still finds the job
    except (RetriableError, AmbiguousError) as exc:
        _finish(ctx, dispatch_id, state=states.AWAITING, error=exc)
        return False
    if job is None:
        _finish(ctx, dispatch_id, state=states.AWAITING)
        return False
    _finish(ctx, dispatch_id, job=job)
    counts["created"] += 1
    counts["resolved_pending"] += 1
    return True


def process_dispatch(ctx: SyncContext, dispatch_id: int, counts: Counter[str]) -> None:
    previous, draft, token = _start_attempt(ctx, dispatch_id)
    if draft is None:
        return
    if previous == states.AWAITING:
        _resolve_awaiting(ctx, dispatch_id, token, draft.reference, counts)
        return
    if previous in states.NEEDS_LOOKUP and _settled_by_lookup(ctx, dispatch_id, draft.reference, counts):
        return
    _create(ctx, dispatch_id, draft, counts)


def push_new_requests(ctx: SyncContext, counts: Counter[str]) -> None:
    enqueue_new_requests(ctx, counts)
    failing_in_a_row = 0
    while True:
        batch = claim_batch(ctx, ctx.manifest.batch_size)
        if not batch:
            break
        for position, dispatch_id in enumerate(batch):
            before = counts["retry_later"] + counts["unknown"]
            try:
                process_dispatch(ctx, dispatch_id, counts)
            except FatalError:
                _release(ctx, batch)
                raise
            failing_in_a_row = failing_in_a_row + 1 if counts["retry_later"] + counts["unknown"] > before else 0
            if failing_in_a_row >= ctx.breaker.item_failures_to_stop:
                _release(ctx, batch[position + 1 :])
                raise RetriableError(f"{ctx.provider} looks unavailable: {failing_in_a_row} creates in a row "
                                     "failed; the rest waits for the next run")
        if len(batch) < ctx.manifest.batch_size:
            break
    _settle_awaiting(ctx, counts)


def _release(ctx: SyncContext, batch: list[int]) -> None:
    """After a fatal error nothing was created: put the batch back as it was, minus the lease."""
    with ctx.sessions() as session, session.begin():
        for dispatch in session.scalars(select(Dispatch).where(Dispatch.id.in_(batch))):
            if dispatch.state == states.IN_FLIGHT and dispatch.job_id is None:
                dispatch.state = states.UNKNOWN  # conservative: look up before creating
            dispatch.lease_until = None


def _settle_awaiting(ctx: SyncContext, counts: Counter[str]) -> None:
    """Asynchronous creations usually finish within seconds: check a few times before the run ends."""
    for round_ in range(ctx.pending_rounds):
        with ctx.sessions() as session:
            waiting = session.scalars(
                select(Dispatch.id).where(Dispatch.provider == ctx.provider, Dispatch.state == states.AWAITING)
            ).all()
        if not waiting:
            return
        if round_:
            time.sleep(ctx.pending_interval)
        for dispatch_id in waiting:
            process_dispatch(ctx, dispatch_id, counts)
    with ctx.sessions() as session:
        left = session.scalar(
            select(Dispatch.id).where(Dispatch.provider == ctx.provider, Dispatch.state == states.AWAITING).limit(1)
        )
    if left:
        counts["still_awaiting"] += 1
