"""Push: new requests become jobs at the utility, each exactly once.

The order of writes is what makes a crash safe: a dispatch is marked ``in_flight`` and committed
before the create call, so a run that dies after the call leaves a trace that the next run resolves
by looking the job up (by our reference) before it would ever create again.

Ownership makes overlapping runs safe: a claim writes this runner's token (``owner``) and a lease
that outlives the longest call; every write after a call is a compare-and-set on that token, so a
worker that lost its claim (a frozen process, a run Airflow gave up on) can never overwrite what
the next owner wrote. Every state change goes through the state machine (gateway.sync.states).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.addresses import house_key, street_key
from gateway.connector import CreateResult, JobDraft, RemoteJob
from gateway.db import is_postgres
from gateway.errors import AmbiguousError, PermanentError, RetriableError, error_class_name
from gateway.linking import link_if_known, release_orphaned, release_reopened
from gateway.models import DeadLetter, Dispatch, Executor, Request
from gateway.reference_data import code_of
from gateway.statuses import CLOSED, RequestStatus
from gateway.sync import states
from gateway.sync.bookkeeping import add_history, record_dead_letter, set_request_status
from gateway.sync.context import SyncContext
from gateway.sync.retry import call_with_retry
from gateway.sync.states import Event, move

MAX_REFUSED_LOOKUPS = 8  # attempts after which a dispatch whose lookups are refused goes to a person
PRIORITY_BY_URGENCY = {"urgent_emergency": "emergency", "emergency": "urgent", "ordinary": "normal"}
_NAMESPACE = uuid.UUID("5f0b1c1e-1520-4b7e-9c1a-6b72797669a0")


def idempotency_key(provider: str, request_number: str) -> str:
    """Stable for the life of a dispatch, so every retry of a create carries the same key."""
    return str(uuid.uuid5(_NAMESPACE, f"{provider}:{request_number}"))


def address_key(street: str, house: str) -> str:
    """Street and house as the address normaliser reads them: equal for the same building."""
    return f"{street_key(street)}|{house_key(house)}"


def _insert_ignore(session: Session):
    return (postgresql.insert if is_postgres(session) else sqlite.insert)(Dispatch)


def enqueue_new_requests(ctx: SyncContext, counts: Counter[str], *, limit: int = 1000) -> None:
    """Give every registered request of this utility's executor a dispatch (once: a unique key).

    One INSERT for the whole batch and one indexed query per new request for linking: the cost grows
    with the new requests only, never with the dispatches already there.

    A request whose item the mapping does not serve is never sent: it is dead-lettered, naming the
    item and the mapping file, for a person to re-route or fix the mapping and replay.
    """
    now = ctx.clock()
    with ctx.sessions() as session, session.begin():
        if reopened := release_reopened(session, ctx, now):
            counts["reopened"] += reopened
        if released := release_orphaned(session, ctx, now):
            counts["released"] += released
        has_dispatch = select(Dispatch.id).where(Dispatch.request_id == Request.id,
                                                 Dispatch.provider == ctx.provider).exists()
        rows = session.scalars(
            select(Request)
            .join(Executor, Executor.id == Request.executor_id)
            .where(Executor.integration == ctx.provider, Request.status == RequestStatus.REGISTERED, ~has_dispatch)
            .order_by(Request.registered_at, Request.id)
            .limit(limit)
        ).all()
        if not rows:
            return
        keys = {r.classifier_item_id: r.item.key for r in rows}
        served = {item_id: ctx.mapping.rule_for_item(key) is not None for item_id, key in keys.items()}
        session.execute(
            _insert_ignore(session)
            .values([
                dict(request_id=r.id, provider=ctx.provider, reference=r.number,
                     idempotency_key=idempotency_key(ctx.provider, r.number),
                     state=states.PENDING if served[r.classifier_item_id] else states.DEAD, attempts=0,
                     next_attempt_at=now, state_since=now, created_at=now, updated_at=now,
                     address_key=address_key(r.street, r.house))
                for r in rows
            ])
            .on_conflict_do_nothing()
        )
        for request in rows:
            if served[request.classifier_item_id]:
                counts["enqueued"] += 1
                continue
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
        session.flush()
        for request in rows:
            if served[request.classifier_item_id] and link_if_known(session, ctx, request, now):
                counts["linked"] += 1


def _free(now: datetime):
    return or_(Dispatch.lease_until.is_(None), Dispatch.lease_until < now)


def claim_batch(ctx: SyncContext, limit: int, *, exclude: set[int] | frozenset[int] = frozenset(),
                ids: list[int] | None = None) -> list[int]:
    """Take up to ``limit`` due dispatches for this run, the longest due first (so waiting work can
    never starve new requests). The claim writes this runner's token and a lease by a conditional
    UPDATE, so even where there are no row locks (SQLite) two workers never both claim one
    dispatch; on PostgreSQL SKIP LOCKED lets parallel workers pass each other's rows."""
    now = ctx.clock()
    with ctx.sessions() as session, session.begin():
        query = select(Dispatch.id).where(Dispatch.provider == ctx.provider, Dispatch.state.in_(states.CLAIMABLE),
                                          _free(now))
        query = query.where(Dispatch.id.in_(ids) if ids is not None else Dispatch.next_attempt_at <= now)
        if exclude:
            query = query.where(Dispatch.id.not_in(exclude))
        query = query.order_by(Dispatch.next_attempt_at, Dispatch.id).limit(limit)
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for dispatch_id in session.scalars(query).all():
            taken = session.execute(
                update(Dispatch).where(Dispatch.id == dispatch_id, _free(now))
                .values(lease_until=now + ctx.dispatch_lease, owner=ctx.owner)
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
    move(dispatch, Event.CREATED if dispatch.state == states.IN_FLIGHT else Event.FOUND, now)
    dispatch.job_id = job.job_id
    dispatch.pending_token = None
    dispatch.provider_status = job.status or dispatch.provider_status
    dispatch.sent_at = dispatch.sent_at or now
    dispatch.checked_at = now
    dispatch.last_error = None
    dispatch.lease_until, dispatch.owner = None, None
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


def _owned(session: Session, ctx: SyncContext, dispatch_id: int) -> Dispatch | None:
    """The dispatch, if this runner still owns its claim: a compare-and-set on the owner token that
    also takes the row's write lock for the rest of the transaction. None: someone else has it now."""
    taken = session.execute(
        update(Dispatch).where(Dispatch.id == dispatch_id, Dispatch.owner == ctx.owner)
        .values(updated_at=ctx.clock()).execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        ctx.log.warning("dispatch %s: claim lost to another runner; its write is left to the new owner",
                        dispatch_id)
        return None
    return session.get(Dispatch, dispatch_id, populate_existing=True)


def _lookup(ctx: SyncContext, reference: str) -> RemoteJob | None:
    """The job behind our reference, if the utility has one; the earliest if it somehow has several."""
    jobs = call_with_retry(lambda: ctx.connector.find_jobs(reference), ctx.retry,
                           retry_on=(RetriableError, AmbiguousError))
    if not jobs:
        return None
    if len(jobs) > 1:
        ctx.log.error("%s holds %d jobs for %s: %s", ctx.provider, len(jobs), reference, [j.job_id for j in jobs])
    return min(jobs, key=lambda j: (j.created_at is None, j.created_at or 0, j.job_id))


def _settle_delay(ctx: SyncContext) -> timedelta:
    """How long an unanswered create may still be committing at the utility: past this, a lookup that
    finds nothing proves the create did not land."""
    timeouts = ctx.connector.timeouts
    return timedelta(seconds=max(60.0, 3 * (timeouts.read + timeouts.connect)))


def _closed_in_contact_centre(request: Request) -> bool:
    return request.status in CLOSED


def _dead(session: Session, ctx: SyncContext, dispatch: Dispatch, event: Event, error: BaseException,
          now: datetime) -> None:
    move(dispatch, event, now)
    dispatch.last_error = f"{error_class_name(error)}: {error}"
    dispatch.lease_until, dispatch.owner = None, None
    record_dead_letter(
        session, provider=ctx.provider, stream="jobs", item_key=dispatch.reference, request_id=dispatch.request_id,
        payload={"reference": dispatch.reference, "provider": ctx.provider, "detail": getattr(error, "detail", None)},
        error_class=error_class_name(error), message=str(error), now=now,
    )
    add_history(session, dispatch.request, actor=ctx.actor, field="dispatch", old=None,
                new="refused" if event == Event.REFUSED else "gave_up",
                note=f"{ctx.manifest.title}: {error}", at=now)


class GaveUp(PermanentError):
    """A timeout of the state machine ran out: a person decides (the message says why)."""


def _finish(ctx: SyncContext, dispatch_id: int, event: Event, counts: Counter[str], *,
            job: RemoteJob | CreateResult | None = None, error: BaseException | None = None,
            token: str | None = None, not_before: datetime | None = None) -> bool:
    """Write an attempt's outcome, if the claim is still ours; the lease ends with it."""
    with ctx.sessions() as session, session.begin():
        dispatch = _owned(session, ctx, dispatch_id)
        if dispatch is None:
            counts["claim_lost"] += 1
            return False
        now = ctx.clock()
        if job is not None and job.job_id:
            mark_sent(session, ctx, dispatch, job)
            return True
        if event in (Event.REFUSED, Event.GAVE_UP):
            _dead(session, ctx, dispatch, event, error or GaveUp("gave up"), now)
            return True
        move(dispatch, event, now)
        if token:
            dispatch.pending_token = token
        dispatch.lease_until, dispatch.owner = None, None
        if error is not None:
            dispatch.last_error = f"{error_class_name(error)}: {error}"
        if dispatch.state == states.AWAITING:  # asynchronous: ask again soon, then less often
            dispatch.next_attempt_at = now + timedelta(seconds=min(600, 5 * 2 ** min(dispatch.attempts, 7)))
        elif error is not None or not_before is not None:
            dispatch.next_attempt_at = max(_backoff(ctx, dispatch.attempts), not_before or now)
        return True


def _renew(ctx: SyncContext, dispatch_id: int, events: tuple[Event, ...]) -> bool:
    """Right before a create: still ours? Then move it in flight (committed) with a fresh lease."""
    with ctx.sessions() as session, session.begin():
        dispatch = _owned(session, ctx, dispatch_id)
        if dispatch is None:
            return False
        now = ctx.clock()
        for event in events:
            move(dispatch, event, now)
        dispatch.lease_until = now + ctx.dispatch_lease
        return True


def _settled_by_lookup(ctx: SyncContext, dispatch_id: int, reference: str, attempts: int,
                       counts: Counter[str]) -> bool:
    """Look the job up by our reference. True when that settled the dispatch: the job was found
    (sent), the lookup failed (unknown, for a later run) or was refused (dead letter, for a person).
    False: the utility holds no such job."""
    try:
        found = _lookup(ctx, reference)
    except (RetriableError, AmbiguousError) as exc:
        if attempts >= states.MAX_LOOKUPS:
            _finish(ctx, dispatch_id, Event.GAVE_UP, counts,
                    error=GaveUp(f"cannot tell whether the job exists: {attempts} lookups failed (last: {exc})"))
            counts["dead_lettered"] += 1
        else:
            _finish(ctx, dispatch_id, Event.LOOKUP_FAILED, counts, error=exc)
            counts["unknown"] += 1
        return True
    except PermanentError as exc:
        # A refused lookup says nothing about the job: try again later; only a lookup refused again
        # and again goes to a person (with the job possibly at the utility: a change from it adopts it).
        error = PermanentError(f"cannot tell whether the job exists: lookup refused ({exc})")
        if attempts >= MAX_REFUSED_LOOKUPS:
            _finish(ctx, dispatch_id, Event.GAVE_UP, counts, error=error)
            counts["dead_lettered"] += 1
        else:
            _finish(ctx, dispatch_id, Event.LOOKUP_FAILED, counts, error=error)
            counts["unknown"] += 1
        return True
    if found is None:
        return False
    if _finish(ctx, dispatch_id, Event.FOUND, counts, job=found):
        counts["created"] += 1
        counts["resolved_by_lookup"] += 1
    return True


def _create(ctx: SyncContext, dispatch_id: int, draft: JobDraft, counts: Counter[str]) -> None:
    """Create once (the dispatch is in flight, committed); an ambiguous end is settled by lookup, and
    only a proven absence creates again.

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
            if not _renew(ctx, dispatch_id, (Event.AMBIGUOUS,)):
                counts["claim_lost"] += 1
                return
            if _settled_by_lookup(ctx, dispatch_id, draft.reference, 0, counts):
                return
            if round_ == 2 or not ctx.connector.idempotent_create:
                _finish(ctx, dispatch_id, Event.LOOKUP_FAILED, counts, error=exc,
                        not_before=ctx.clock() + _settle_delay(ctx))
                counts["unknown"] += 1
                return
            if not _renew(ctx, dispatch_id, (Event.ABSENT, Event.START_CREATE)):  # a repeat cannot double
                counts["claim_lost"] += 1
                return
            continue
        except RetriableError as exc:
            _finish(ctx, dispatch_id, Event.FAILED_RETRIABLE, counts, error=exc)
            counts["retry_later"] += 1
            return
        except PermanentError as exc:
            _finish(ctx, dispatch_id, Event.REFUSED, counts, error=exc)
            counts["dead_lettered"] += 1
            return
        if result.job_id:
            if _finish(ctx, dispatch_id, Event.CREATED, counts, job=result):
                counts["created"] += 1
        else:
            _finish(ctx, dispatch_id, Event.ACCEPTED, counts, token=result.pending_token)
            counts["awaiting"] += 1
        return


def _resolve_awaiting(ctx: SyncContext, dispatch_id: int, token: str | None, reference: str, expired: str | None,
                      counts: Counter[str]) -> bool:
    """Ask for the job behind an asynchronous token; True once it has an id. When the token says
    nothing for too long (``expired``: why), our reference decides: the job, or a dead letter."""
    job = None
    try:
        if token and not expired:
            job = call_with_retry(lambda: ctx.connector.resolve_pending(token), ctx.retry,
                                  retry_on=(RetriableError, AmbiguousError))
        if job is None and (expired or not token):
            job = _lookup(ctx, reference)
    except PermanentError:
        try:
            job = _lookup(ctx, reference)  # the token is gone; our reference still finds the job
        except (RetriableError, AmbiguousError, PermanentError) as exc:
            _finish(ctx, dispatch_id, Event.LOOKUP_FAILED, counts, error=exc)
            return False
    except (RetriableError, AmbiguousError) as exc:
        _finish(ctx, dispatch_id, Event.LOOKUP_FAILED, counts, error=exc)
        return False
    if job is None:
        if expired:
            _finish(ctx, dispatch_id, Event.GAVE_UP, counts,
                    error=GaveUp(f"accepted asynchronously (token {token}) but no job appeared: {expired}, "
                                 f"and no job is found under {reference}"))
            counts["dead_lettered"] += 1
        else:
            _finish(ctx, dispatch_id, Event.NOT_YET, counts)
        return False
    if _finish(ctx, dispatch_id, Event.FOUND, counts, job=job):
        counts["created"] += 1
        counts["resolved_pending"] += 1
    return True


def _awaiting_expired(dispatch: Dispatch, now: datetime) -> str | None:
    if dispatch.attempts >= states.AWAITING_POLLS:
        return f"{dispatch.attempts} checks of its token"
    if dispatch.state_since is not None and now - dispatch.state_since >= states.AWAITING_FOR:
        return f"waiting since {dispatch.state_since.isoformat()}"
    return None


def process_dispatch(ctx: SyncContext, dispatch_id: int, counts: Counter[str]) -> None:
    """One claimed dispatch, one step of the state machine (and the call it needs)."""
    ctx.still_holding()
    with ctx.sessions() as session, session.begin():
        dispatch = _owned(session, ctx, dispatch_id)
        if dispatch is None:
            counts["claim_lost"] += 1
            return
        now = ctx.clock()
        previous, request = dispatch.state, dispatch.request
        if previous not in states.CLAIMABLE:
            dispatch.lease_until, dispatch.owner = None, None
            return
        try:
            draft = build_draft(ctx, request, dispatch, code_of(session, request.classifier_item_id))
        except PermanentError as exc:
            _dead(session, ctx, dispatch, Event.REFUSED, exc, now)
            counts["dead_lettered"] += 1
            return
        if previous == states.PENDING and _closed_in_contact_centre(request):
            move(dispatch, Event.CLOSED_BY_CONTACT_CENTRE, now)
            dispatch.lease_until, dispatch.owner = None, None
            add_history(session, request, actor=ctx.actor, field="dispatch", old=None, new="cancelled", at=now,
                        note=f"not sent to {ctx.manifest.title}: closed in the contact centre before the job existed")
            counts["cancelled"] += 1
            return
        if previous == states.PENDING and dispatch.attempts >= states.MAX_ATTEMPTS:
            _dead(session, ctx, dispatch, Event.GAVE_UP,
                  GaveUp(f"{dispatch.attempts} creates failed without reaching {ctx.provider}: {dispatch.last_error}"),
                  now)
            counts["dead_lettered"] += 1
            return
        if previous == states.IN_FLIGHT:
            # Claimed while in flight: its worker died or lost the claim, the call's outcome is unknown.
            # The settle time for a non-idempotent utility starts now, not at the lost attempt.
            move(dispatch, Event.LEASE_EXPIRED, now)
            previous = states.UNKNOWN
        dispatch.attempts += 1
        dispatch.lease_until = now + ctx.dispatch_lease
        attempts, token, since = dispatch.attempts, dispatch.pending_token, dispatch.state_since
        expired = _awaiting_expired(dispatch, now) if previous == states.AWAITING else None
        closed = _closed_in_contact_centre(request)
    if previous == states.AWAITING:
        _resolve_awaiting(ctx, dispatch_id, token, draft.reference, expired, counts)
        return
    events: tuple[Event, ...] = (Event.START_CREATE,)
    if previous == states.UNKNOWN:
        if _settled_by_lookup(ctx, dispatch_id, draft.reference, attempts, counts):
            return
        proven_at = (since or ctx.clock()) + _settle_delay(ctx)
        if not ctx.connector.idempotent_create and ctx.clock() < proven_at:
            # Nothing found yet, but the last attempt may still be committing at the utility.
            _finish(ctx, dispatch_id, Event.LOOKUP_FAILED, counts, not_before=proven_at,
                    error=AmbiguousError("no job found yet; the last create may still be committing"))
            counts["unknown"] += 1
            return
        if closed:  # proven absent, and no longer wanted: nothing is created
            _finish(ctx, dispatch_id, Event.CLOSED_BY_CONTACT_CENTRE, counts)
            counts["cancelled"] += 1
            return
        events = (Event.ABSENT, Event.START_CREATE)
    if not _renew(ctx, dispatch_id, events):
        counts["claim_lost"] += 1
        return
    _create(ctx, dispatch_id, draft, counts)


def push_new_requests(ctx: SyncContext, counts: Counter[str]) -> None:
    enqueue_new_requests(ctx, counts)
    failing_in_a_row = 0
    seen: set[int] = set()
    while True:
        batch = claim_batch(ctx, ctx.manifest.batch_size, exclude=seen)
        if not batch:
            break
        seen.update(batch)
        for position, dispatch_id in enumerate(batch):
            before = counts["retry_later"] + counts["unknown"]
            try:
                process_dispatch(ctx, dispatch_id, counts)
            except Exception:
                _release(ctx, batch[position:])
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
    """After a fatal error: give back what this runner still owns. A dispatch left in flight may have
    reached the utility: it is looked up before any create."""
    with ctx.sessions() as session, session.begin():
        now = ctx.clock()
        for dispatch in session.scalars(select(Dispatch).where(Dispatch.id.in_(batch),
                                                               Dispatch.owner == ctx.owner)):
            if dispatch.state == states.IN_FLIGHT and dispatch.job_id is None:
                move(dispatch, Event.LEASE_EXPIRED, now)  # conservative: look up before creating
            dispatch.lease_until, dispatch.owner = None, None


def _settle_awaiting(ctx: SyncContext, counts: Counter[str]) -> None:
    """Asynchronous creations usually finish within seconds: check a few times before the run ends
    (each check claims the dispatch like any other, so a parallel runner never checks it too)."""
    for round_ in range(ctx.pending_rounds):
        with ctx.sessions() as session:
            waiting = session.scalars(
                select(Dispatch.id).where(Dispatch.provider == ctx.provider, Dispatch.state == states.AWAITING)
                .order_by(Dispatch.next_attempt_at, Dispatch.id).limit(ctx.manifest.batch_size)
            ).all()
        if not waiting:
            return
        if round_:
            time.sleep(ctx.pending_interval)
        for dispatch_id in claim_batch(ctx, len(waiting), ids=list(waiting)):
            process_dispatch(ctx, dispatch_id, counts)
    with ctx.sessions() as session:
        left = session.scalar(
            select(Dispatch.id).where(Dispatch.provider == ctx.provider, Dispatch.state == states.AWAITING).limit(1)
        )
    if left:
        counts["still_awaiting"] += 1
