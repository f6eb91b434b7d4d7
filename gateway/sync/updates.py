"""Contact-centre events a utility must hear about: a request returned for rework, withdrawn by the
resident, or given more details. They are read from request history (the contact centre's own
record) behind a cursor, queued per dispatch, and delivered once each job id is known.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from gateway.connector import JobUpdate
from gateway.errors import AmbiguousError, PermanentError, RetriableError, error_class_name
from gateway.models import Dispatch, OutboundUpdate, RequestHistory
from gateway.statuses import RequestStatus
from gateway.sync import states
from gateway.sync.bookkeeping import get_cursor, record_dead_letter, set_cursor
from gateway.sync.context import SyncContext
from gateway.sync.retry import call_with_retry

STREAM = "updates"
SCAN_LIMIT = 5000


def _kind(row: RequestHistory) -> str | None:
    if row.actor.startswith("sync:"):
        return None  # our own writes are not news to the utility
    if row.field == "status" and row.new_value == RequestStatus.REWORK:
        return "rework"
    if row.field == "status" and row.new_value == RequestStatus.WITHDRAWN:
        return "withdrawn"
    if row.field == "details":
        return "details"
    return None


def collect_updates(ctx: SyncContext, counts: Counter[str]) -> None:
    with ctx.sessions() as session, session.begin():
        after = int(get_cursor(session, ctx.provider, STREAM) or 0)
        rows = session.scalars(
            select(RequestHistory).where(RequestHistory.id > after).order_by(RequestHistory.id).limit(SCAN_LIMIT)
        ).all()
        for row in rows:
            kind = _kind(row)
            if kind is None:
                continue
            dispatch = session.scalars(
                select(Dispatch).where(Dispatch.request_id == row.request_id, Dispatch.provider == ctx.provider,
                                       Dispatch.state.not_in((states.DEAD, states.LINKED)))
            ).first()
            if dispatch is None:
                continue
            text = row.note or row.new_value or kind
            session.add(OutboundUpdate(dispatch_id=dispatch.id, history_id=row.id, kind=kind, text=text,
                                       state="pending", attempts=0, created_at=row.at))
            counts["queued"] += 1
        if rows:
            set_cursor(session, ctx.provider, STREAM, str(rows[-1].id), ctx.clock())


def push_updates(ctx: SyncContext, counts: Counter[str]) -> None:
    collect_updates(ctx, counts)
    with ctx.sessions() as session:
        due = session.execute(
            select(OutboundUpdate.id, Dispatch.job_id)
            .join(Dispatch)
            .where(Dispatch.provider == ctx.provider, OutboundUpdate.state == "pending", Dispatch.job_id.is_not(None))
            .order_by(OutboundUpdate.id)
        ).all()
    for update_id, job_id in due:
        with ctx.sessions() as session, session.begin():
            update = session.get(OutboundUpdate, update_id)
            message = JobUpdate(kind=update.kind, text=update.text, at=update.created_at)  # type: ignore[arg-type]
            update.attempts += 1
        try:
            # A note is not a job: if its reply is lost, sending it again risks a repeated note, never a job.
            call_with_retry(lambda m=message, j=job_id: ctx.connector.push_update(j, m), ctx.retry,
                            retry_on=(RetriableError, AmbiguousError))
            state, error = "sent", None
        except (RetriableError, AmbiguousError) as exc:
            state, error = "pending", exc
        except PermanentError as exc:
            state, error = "dead", exc
        with ctx.sessions() as session, session.begin():
            update = session.get(OutboundUpdate, update_id)
            update.state = state
            update.last_error = f"{error_class_name(error)}: {error}" if error else None
            if state == "sent":
                update.sent_at = ctx.clock()
                counts["sent"] += 1
            elif state == "dead":
                record_dead_letter(session, provider=ctx.provider, stream=STREAM, item_key=str(update.id),
                                   request_id=update.dispatch.request_id,
                                   payload={"job_id": job_id, "kind": update.kind, "text": update.text},
                                   error_class=error_class_name(error), message=str(error))
                counts["dead_lettered"] += 1
            else:
                counts["retry_later"] += 1
