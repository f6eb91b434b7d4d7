"""Pull: the utility's status changes come back into the contact centre, in order, exactly once.

Each page is applied in one transaction together with the cursor that follows it, so a crash either
keeps both or neither. A change older than (or equal to) the last one applied to a job is skipped:
an older change never overwrites a newer one, and a repeated change is not applied twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.connector import RemoteJob, StatusChange
from gateway.errors import AmbiguousError, ConfigError, PermanentError, RetriableError, error_class_name
from gateway.linking import release_orphaned
from gateway.models import Dispatch, Request
from gateway.statuses import CLOSED, RequestStatus
from gateway.sync import states
from gateway.sync.bookkeeping import (
    add_history,
    closed_by_contact_centre,
    get_cursor,
    record_dead_letter,
    set_cursor,
    set_request_status,
)
from gateway.sync.context import SyncContext
from gateway.sync.push import mark_sent
from gateway.sync.retry import call_with_retry
from gateway.sync.states import Event, move

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
                Dispatch.state.in_((*states.CLAIMABLE, states.DEAD, states.CANCELLED)),
            )
        ).first()
        if dispatch is not None:
            mark_sent(session, ctx, dispatch, RemoteJob(job_id=change.job_id, reference=change.reference))
    return dispatch


def _is_newer(dispatch: Dispatch, change: StatusChange, sequenced: bool) -> bool:
    """Where the feed has a sequence, it orders a job's changes (a backdated change with a higher
    sequence is newer); otherwise the change's time does, the position breaking ties."""
    if dispatch.last_change_at is None:
        return True
    if sequenced and change.position and dispatch.last_change_pos:
        return change.position > dispatch.last_change_pos
    return (change.changed_at, change.position) > (dispatch.last_change_at, dispatch.last_change_pos or 0)


def _order(changes: list[StatusChange], sequenced: bool) -> list[StatusChange]:
    if sequenced and all(c.position for c in changes):
        return sorted(changes, key=lambda c: (c.position, c.change_id))
    return sorted(changes, key=lambda c: (c.changed_at, c.position, c.change_id))


# What a linked request does not follow: the job's end without its work having been done for it
# (the master withdrawn, closed by the contact centre); gateway.linking releases it instead.
NOT_FOLLOWED = frozenset({RequestStatus.WITHDRAWN, RequestStatus.CONFIRMED, RequestStatus.DUPLICATE})


def apply_change(session: Session, ctx: SyncContext, change: StatusChange, counts: Counter[str]) -> None:
    dispatch = _dispatch_for(session, ctx, change)
    if dispatch is None:
        counts["not_ours"] += 1  # a job the utility created itself, or another system's
        return
    if not _is_newer(dispatch, change, ctx.connector.feed_sequenced):
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
    linked = session.scalars(select(Dispatch).where(Dispatch.linked_dispatch_id == dispatch.id,
                                                    Dispatch.state == states.LINKED)).all()
    master_closed = closed_by_contact_centre(session, dispatch.request)
    followers = [] if master_closed or cc_status in NOT_FOLLOWED else linked
    for target in (dispatch, *followers):
        request = target.request
        if closed_by_contact_centre(session, request):
            # The contact centre closed it: the utility's change is kept as a comment, never reopens it.
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
            for change in _order(readable, ctx.connector.feed_sequenced):
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
            if released := release_orphaned(session, ctx, ctx.clock()):
                counts["released"] += released
        cursor = page.next_cursor if page.next_cursor is not None else cursor
        if not page.has_more:
            break
    reconcile_sent(ctx, counts)


RECHECK_AFTER = timedelta(hours=24)  # a sent job not heard of for this long is looked up again
RECHECK_PER_RUN = 5  # lookups per run, so the reconciliation never crowds out the feed


def reconcile_sent(ctx: SyncContext, counts: Counter[str]) -> None:
    """A few ``sent`` jobs of open requests, longest unchecked first: a job the utility no longer
    knows (deleted there) goes to a person as a dead letter, with the request's history saying so;
    otherwise it waits for ever for a status that never comes."""
    now = ctx.clock()
    with ctx.sessions() as session:
        due = session.execute(
            select(Dispatch.id, Dispatch.reference, Dispatch.job_id)
            .join(Request, Request.id == Dispatch.request_id)
            .where(Dispatch.provider == ctx.provider, Dispatch.state == states.SENT,
                   Request.status.not_in(list(CLOSED)),
                   or_(Dispatch.checked_at.is_(None), Dispatch.checked_at < now - RECHECK_AFTER))
            .order_by(Dispatch.checked_at.is_not(None), Dispatch.checked_at, Dispatch.id)
            .limit(RECHECK_PER_RUN)
        ).all()
    for dispatch_id, reference, job_id in due:
        try:
            known = call_with_retry(lambda j=job_id, r=reference: ctx.connector.job_known(j, r), ctx.retry,
                                    retry_on=(RetriableError, AmbiguousError))
        except (RetriableError, AmbiguousError, PermanentError) as exc:
            ctx.log.info("reconciliation of %s skipped: %s", reference, error_class_name(exc))
            continue
        with ctx.sessions() as session, session.begin():
            dispatch = session.get(Dispatch, dispatch_id)
            if dispatch.state != states.SENT or dispatch.job_id != job_id:
                continue
            if known:
                dispatch.checked_at = now
                counts["rechecked"] += 1
                continue
            move(dispatch, Event.VANISHED, now)
            dispatch.last_error = f"job {job_id} is no longer known to {ctx.provider}"
            record_dead_letter(session, provider=ctx.provider, stream="jobs", item_key=reference,
                               request_id=dispatch.request_id,
                               payload={"reference": reference, "job_id": job_id},
                               error_class="vanished",
                               message=f"{ctx.manifest.title} no longer knows job {job_id} of {reference}; "
                               "`gateway dlq retry` looks it up and sends it again if it is gone")
            add_history(session, dispatch.request, actor=ctx.actor, field="dispatch", old=job_id, new="vanished",
                        at=now, note=f"{ctx.manifest.title} no longer knows job {job_id}: a person decides")
            counts["vanished"] += 1
