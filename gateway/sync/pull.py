"""Pull: the utility's status changes come back into the contact centre, in order, exactly once.

Each page is applied in one transaction together with the cursor that follows it, so a crash either
keeps both or neither. A change older than (or equal to) the last one applied to a job is skipped:
an older change never overwrites a newer one, and a repeated change is not applied twice.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.connector import RemoteJob, StatusChange
from gateway.errors import AmbiguousError, ConfigError, RetriableError
from gateway.models import Dispatch
from gateway.statuses import CONTACT_CENTRE_FINAL, RequestStatus
from gateway.sync import states
from gateway.sync.bookkeeping import add_history, get_cursor, record_dead_letter, set_cursor, set_request_status
from gateway.sync.context import SyncContext
from gateway.sync.push import mark_sent
from gateway.sync.retry import call_with_retry

STREAM = "status_changes"


def _dispatch_for(session: Session, ctx: SyncContext, change: StatusChange) -> Dispatch | None:
    dispatch = session.scalars(
        select(Dispatch).where(Dispatch.provider == ctx.provider, Dispatch.job_id == change.job_id)
    ).first()
    if dispatch is None and change.reference:
        # The create's reply was lost but the job exists: its first change proves it. Adopt it.
        dispatch = session.scalars(
            select(Dispatch).where(
                Dispatch.provider == ctx.provider,
                Dispatch.reference == change.reference,
                Dispatch.job_id.is_(None),
                # dead too: a dispatch given up on (its create refused, its lookups refused) whose job
                # the utility has after all is found again by the utility's own change
                Dispatch.state.in_((*states.CLAIMABLE, states.DEAD)),
            )
        ).first()
        if dispatch is not None:
            mark_sent(session, ctx, dispatch, RemoteJob(job_id=change.job_id, reference=change.reference))
    return dispatch


def _is_newer(dispatch: Dispatch, change: StatusChange) -> bool:
    if dispatch.last_change_at is None:
        return True
    return (change.changed_at, change.position) > (dispatch.last_change_at, dispatch.last_change_pos or 0)


def apply_change(session: Session, ctx: SyncContext, change: StatusChange, counts: Counter[str]) -> None:
    dispatch = _dispatch_for(session, ctx, change)
    if dispatch is None:
        counts["not_ours"] += 1  # a job the utility created itself, or another system's
        return
    if not _is_newer(dispatch, change):
        counts["stale_or_repeated"] += 1
        return
    try:
        cc_status = ctx.mapping.status_for(change.status)
    except ConfigError as exc:
        record_dead_letter(
            session, provider=ctx.provider, stream=STREAM, item_key=change.change_id, request_id=dispatch.request_id,
            payload={"job_id": change.job_id, "status": change.status, "changed_at": change.changed_at.isoformat()},
            error_class="permanent", message=str(exc),
        )
        counts["dead_lettered"] += 1
        return
    dispatch.provider_status = change.status
    dispatch.last_change_at = change.changed_at
    dispatch.last_change_pos = change.position
    dispatch.updated_at = ctx.clock()
    note = f"{ctx.manifest.title}: {change.status}" + (f" — {change.comment}" if change.comment else "")
    linked = session.scalars(select(Dispatch).where(Dispatch.linked_dispatch_id == dispatch.id)).all()
    for target in (dispatch, *linked):
        request = target.request
        if request.status in CONTACT_CENTRE_FINAL:
            add_history(session, request, actor=ctx.actor, field="executor_status", old=None, new=change.status,
                        note=note + " (request already closed in the contact centre)", at=change.changed_at)
            counts["after_close"] += 1
            continue
        if set_request_status(session, request, cc_status, actor=ctx.actor, note=note, at=change.changed_at):
            counts["applied"] += 1
        elif change.comment:
            add_history(session, request, actor=ctx.actor, field="executor_comment", old=None, new=change.status,
                        note=note, at=change.changed_at)
    if cc_status == RequestStatus.DONE:
        counts["done"] += 1


def pull_status_changes(ctx: SyncContext, counts: Counter[str]) -> None:
    with ctx.sessions() as session:
        cursor = get_cursor(session, ctx.provider, STREAM)
    for _ in range(ctx.max_pages):
        page = call_with_retry(
            lambda c=cursor: ctx.connector.fetch_changes(c, ctx.manifest.batch_size), ctx.retry,
            retry_on=(RetriableError, AmbiguousError),
        )
        counts["pages"] += 1
        with ctx.sessions() as session, session.begin():
            readable = [c for c in page.changes if c.changed_at.tzinfo is not None]
            for change in sorted(readable, key=lambda c: (c.changed_at, c.position, c.change_id)):
                counts["received"] += 1
                apply_change(session, ctx, change, counts)
            for change in page.changes:
                if change.changed_at.tzinfo is None:  # a connector bug: without a zone the order is unknowable
                    record_dead_letter(session, provider=ctx.provider, stream=STREAM, item_key=change.change_id,
                                       payload={"job_id": change.job_id, "status": change.status,
                                                "changed_at": change.changed_at.isoformat()},
                                       error_class="malformed", message="changed_at has no time zone")
                    counts["rejected"] += 1
            for reject in page.rejects:
                record_dead_letter(session, provider=ctx.provider, stream=STREAM, item_key=reject.key,
                                   payload=reject.payload, error_class="malformed", message=reject.error)
                counts["rejected"] += 1
            if page.next_cursor is not None:
                set_cursor(session, ctx.provider, STREAM, page.next_cursor, ctx.clock())
        cursor = page.next_cursor if page.next_cursor is not None else cursor
        if not page.has_more:
            break
