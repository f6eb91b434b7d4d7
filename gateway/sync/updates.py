"""Contact-centre events a utility must hear about: a request returned for rework, withdrawn by the
resident, given more details, or closed by the contact centre (a duplicate, not the utility's...).

They come from the outbox (gw_outbound_updates), written in the same transaction as the change
that causes it (gateway.sync.bookkeeping.add_history): nothing depends on the order in which
concurrent transactions commit. An event for a request without a job yet waits for the job; the
events of one job are delivered in order, one at a time; each is claimed with an owner token and
a lease like a dispatch, retried with backoff, and dead-lettered for a person when refused or
failing too often.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import aliased

from gateway.connector import JobUpdate
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError, error_class_name
from gateway.models import Dispatch, OutboundUpdate, Request
from gateway.statuses import STATUS_NAMES_UK
from gateway.sync import states
from gateway.sync.bookkeeping import record_dead_letter
from gateway.sync.context import SyncContext
from gateway.sync.retry import call_with_retry

STREAM = "updates"
MAX_ATTEMPTS = 12  # deliveries that failed for the utility's sake before a person looks at it
NO_JOB_EVER = (states.LINKED, states.CANCELLED)  # nothing at the utility to tell


def attach_to_jobs(ctx: SyncContext, counts: Counter[str]) -> None:
    """Give waiting events of this utility's requests their dispatch (the job may come later)."""
    with ctx.sessions() as session, session.begin():
        rows = session.execute(
            select(OutboundUpdate, Dispatch)
            .join(Dispatch, (Dispatch.request_id == OutboundUpdate.request_id) & (Dispatch.provider == ctx.provider))
            .where(OutboundUpdate.state == "pending", OutboundUpdate.dispatch_id.is_(None))
            .order_by(OutboundUpdate.id)
        ).all()
        for event, dispatch in rows:
            if dispatch.state in NO_JOB_EVER:
                event.state, event.last_error = "skipped", f"the request has no job of its own ({dispatch.state})"
                counts["skipped"] += 1
            else:
                event.dispatch_id = dispatch.id
                counts["queued"] += 1


def _claim(ctx: SyncContext, limit: int) -> list[tuple[int, str]]:
    """The first waiting event of each job that exists, due now, with this runner's token on it."""
    now = ctx.clock()
    earlier = aliased(OutboundUpdate)
    free = or_(OutboundUpdate.lease_until.is_(None), OutboundUpdate.lease_until < now)
    with ctx.sessions() as session, session.begin():
        first_of_job = ~select(earlier.id).where(
            earlier.dispatch_id == OutboundUpdate.dispatch_id, earlier.state == "pending",
            earlier.id < OutboundUpdate.id,
        ).exists()
        candidates = session.execute(
            select(OutboundUpdate.id, Dispatch.job_id)
            .join(Dispatch, Dispatch.id == OutboundUpdate.dispatch_id)
            .where(Dispatch.provider == ctx.provider, Dispatch.job_id.is_not(None), OutboundUpdate.state == "pending",
                   OutboundUpdate.next_attempt_at <= now, free, first_of_job)
            .order_by(OutboundUpdate.next_attempt_at, OutboundUpdate.id)
            .limit(limit)
        ).all()
        claimed = []
        for event_id, job_id in candidates:
            taken = session.execute(
                update(OutboundUpdate).where(OutboundUpdate.id == event_id, free)
                .values(owner=ctx.owner, lease_until=now + ctx.dispatch_lease, attempts=OutboundUpdate.attempts + 1)
            )
            if taken.rowcount == 1:
                claimed.append((event_id, job_id))
        return claimed


def _message(event: OutboundUpdate, request: Request) -> JobUpdate:
    text = event.text
    if event.kind == "closed":
        name = STATUS_NAMES_UK.get(request.status, request.status)  # type: ignore[call-overload]
        text = f"Заявку закрито в контакт-центрі 1520 ({name}); роботи за нею не потрібні. {event.text}".strip()
    return JobUpdate(kind=event.kind, text=text, at=event.created_at)  # type: ignore[arg-type]


def deliver(ctx: SyncContext, event_id: int, job_id: str, counts: Counter[str]) -> None:
    ctx.still_holding()
    with ctx.sessions() as session:
        event = session.get(OutboundUpdate, event_id)
        message, attempts = _message(event, session.get(Request, event.request_id)), event.attempts
    send = ctx.connector.close_job if message.kind == "closed" else ctx.connector.push_update
    try:
        # A note is not a job: if its reply is lost, sending it again risks a repeated note, never a job.
        # An ambiguous end closes this attempt (each attempt may land once: what chaos reconciles).
        call_with_retry(lambda: send(job_id, message), ctx.retry)
        state, error = "sent", None
    except (RetriableError, AmbiguousError) as exc:
        state, error = ("dead" if attempts >= MAX_ATTEMPTS else "pending"), exc
    except PermanentError as exc:
        state, error = "dead", exc
    except FatalError:
        raise  # credentials or configuration: the whole step stops, as for every other call
    except Exception as exc:  # a connector's own bug on this event: kept for a person, the rest goes on
        ctx.log.exception("%s: event %s for job %s failed in the connector", ctx.provider, event_id, job_id)
        state, error = "dead", exc
    with ctx.sessions() as session, session.begin():
        if session.execute(update(OutboundUpdate).where(OutboundUpdate.id == event_id,
                                                        OutboundUpdate.owner == ctx.owner)
                           .values(owner=None, lease_until=None)).rowcount != 1:
            counts["claim_lost"] += 1
            return
        event = session.get(OutboundUpdate, event_id, populate_existing=True)
        now = ctx.clock()
        event.state = state
        event.last_error = f"{error_class_name(error)}: {error}" if error else None
        if state == "sent":
            event.sent_at = now
            counts["sent"] += 1
        elif state == "dead":
            record_dead_letter(session, provider=ctx.provider, stream=STREAM, item_key=str(event.id),
                               request_id=event.request_id,
                               payload={"job_id": job_id, "kind": event.kind, "text": event.text},
                               error_class=error_class_name(error), message=f"{type(error).__name__}: {error}")
            counts["dead_lettered"] += 1
        else:
            event.next_attempt_at = now + timedelta(seconds=min(3600, 30 * 2 ** min(attempts, 7)))
            counts["retry_later"] += 1


def push_updates(ctx: SyncContext, counts: Counter[str]) -> None:
    attach_to_jobs(ctx, counts)
    for _ in range(1000):  # each round takes the next event of every job; bounded, so a run ends
        batch = _claim(ctx, max(ctx.manifest.batch_size, 50))
        if not batch:
            return
        for event_id, job_id in batch:
            deliver(ctx, event_id, job_id, counts)
