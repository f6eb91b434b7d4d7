"""Known problems stop becoming new jobs (decision 2021, item 2.2).

A new request joins an active announcement when its item is configured for that service and its
address falls inside the notice; otherwise it joins an open job of the same utility for the same
item at the same address within a window. Either way the request's history says why, and it
follows what it joined: the outage's end closes it, the job's status changes reach it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from gateway.announcements import ACTIVE, CANCELLED, EXPIRED, addresses_from_json
from gateway.models import Announcement, Dispatch, Request
from gateway.statuses import CLOSED, RequestStatus
from gateway.sync import states
from gateway.sync.bookkeeping import add_history, set_request_status
from gateway.sync.context import SyncContext
from gateway.sync.states import Event, move

OPEN_DISPATCH_STATES = (states.PENDING, states.IN_FLIGHT, states.UNKNOWN, states.AWAITING, states.SENT)


def _dispatch(session: Session, request: Request, provider: str) -> Dispatch:
    return session.scalars(
        select(Dispatch).where(Dispatch.request_id == request.id, Dispatch.provider == provider)
    ).one()


def covering_announcement(session: Session, provider: str, service: str, request: Request) -> Announcement | None:
    at = request.registered_at
    candidates = session.scalars(
        select(Announcement).where(
            Announcement.provider == provider, Announcement.service == service, Announcement.state == ACTIVE,
        )
    )
    for announcement in candidates:
        # A moved collection day stops the service from its original date, not from the new one.
        began = min(announcement.starts_at, announcement.original_date or announcement.starts_at)
        if began > at or (announcement.ends_at is not None and announcement.ends_at <= at):
            continue
        if any(a.covers(request.street, request.house) for a in addresses_from_json(announcement.addresses)):
            return announcement
    return None


def open_job_for_same_problem(session: Session, provider: str, request: Request, window: timedelta,
                              key: str) -> Dispatch | None:
    """The earliest open job of the same item at the same building within the window: one indexed
    query on the dispatch's normalised address (no scan of the open jobs in Python)."""
    return session.scalars(
        select(Dispatch)
        .join(Request, Request.id == Dispatch.request_id)
        .where(
            Dispatch.provider == provider,
            Dispatch.address_key == key,
            Dispatch.state.in_(OPEN_DISPATCH_STATES),
            Dispatch.linked_dispatch_id.is_(None),
            Request.id != request.id,
            Request.classifier_item_id == request.classifier_item_id,
            Request.registered_at >= request.registered_at - window,
            Request.registered_at <= request.registered_at,
            Request.status.not_in(list(CLOSED)),
        )
        .order_by(Request.registered_at, Request.id)
        .limit(1)
    ).first()


def link_if_known(session: Session, ctx: SyncContext, request: Request, now: datetime) -> bool:
    """Link a newly enqueued request instead of sending it; True when linked."""
    service = ctx.mapping.outage_services.get(request.item.key)
    if service:
        announcement = covering_announcement(session, ctx.provider, service, request)
        if announcement is not None:
            move(_dispatch(session, request, ctx.provider), Event.LINK, now)
            request.announcement_id = announcement.id
            add_history(session, request, actor=ctx.actor, field="link", old=None,
                        new=f"announcement {ctx.provider}/{announcement.notice_id}",
                        note=f"known outage, not sent as a new job: {announcement.title_uk}", at=now)
            set_request_status(session, request, RequestStatus.IN_PROGRESS, actor=ctx.actor, at=now,
                               note="works already announced by the utility")
            return True
    if ctx.mapping.same_job_window_hours:
        window = timedelta(hours=ctx.mapping.same_job_window_hours)
        dispatch = _dispatch(session, request, ctx.provider)
        other = open_job_for_same_problem(session, ctx.provider, request, window, dispatch.address_key or "")
        if other is not None:
            move(dispatch, Event.LINK, now)
            dispatch.linked_dispatch_id = other.id
            add_history(session, request, actor=ctx.actor, field="link", old=None,
                        new=f"request {other.request.number}",
                        note=f"same problem at the same address as {other.request.number}"
                        + (f" (job {other.job_id})" if other.job_id else "") + "; not sent as a second job",
                        at=now)
            if other.request.status != RequestStatus.REGISTERED:
                set_request_status(session, request, other.request.status, actor=ctx.actor, at=now,
                                   note=f"follows {other.request.number}")
            return True
    return False


def release_reopened(session: Session, ctx: SyncContext, now: datetime) -> int:
    """A linked request the contact centre reopened (the resident called back: rework) is no longer
    explained by the outage or the other job: it goes to the utility as a job of its own."""
    reopened = session.scalars(
        select(Dispatch)
        .join(Request, Request.id == Dispatch.request_id)
        .where(Dispatch.provider == ctx.provider, Dispatch.state == states.LINKED,
               Request.status == RequestStatus.REWORK)
    ).all()
    for dispatch in reopened:
        request = dispatch.request
        joined = (f"announcement {ctx.provider}" if request.announcement_id is not None
                  else f"request linked via dispatch {dispatch.linked_dispatch_id}")
        move(dispatch, Event.RELEASED, now)
        dispatch.linked_dispatch_id, dispatch.next_attempt_at = None, now
        request.announcement_id = None
        add_history(session, request, actor=ctx.actor, field="link", old=joined, new=None, at=now,
                    note="reopened by the contact centre: sent to the utility as a job of its own")
    return len(reopened)


def on_announcement_changed(session: Session, provider: str, notice_id: str, now: datetime,
                            counts: Counter[str]) -> None:
    """Linked requests follow their announcement: closed when the works end, sent on if cancelled."""
    announcement = session.scalars(
        select(Announcement).where(Announcement.provider == provider, Announcement.notice_id == notice_id)
    ).one()
    if announcement.state not in (EXPIRED, CANCELLED):
        return
    linked = session.scalars(
        select(Request).where(Request.announcement_id == announcement.id, Request.status.not_in(list(CLOSED)))
    ).all()
    actor = f"sync:{provider}"
    for request in linked:
        if announcement.state == EXPIRED:
            ended = announcement.ends_at.isoformat() if announcement.ends_at else "?"
            set_request_status(session, request, RequestStatus.DONE, actor=actor, at=now,
                               note=f"announced works finished ({provider}/{notice_id}): their announced end "
                               f"{ended} passed (revision {announcement.revision}) and no revision extended them")
            counts["closed_with_outage"] += 1
            continue
        dispatch = _dispatch(session, request, provider)
        if dispatch.state == states.LINKED:
            move(dispatch, Event.RELEASED, now)
            dispatch.next_attempt_at = now
        request.announcement_id = None
        add_history(session, request, actor=actor, field="link", old=f"announcement {provider}/{notice_id}",
                    new=None, note="the announcement was cancelled: the request goes to the utility as a job", at=now)
        set_request_status(session, request, RequestStatus.REGISTERED, actor=actor, at=now)
        counts["released_from_outage"] += 1


# A master's request that ended like this did not do the linked requests' work: they are released.
ENDED_WITHOUT_WORK = CLOSED - {RequestStatus.DONE, RequestStatus.CONFIRMED}


def release_orphaned(session: Session, ctx: SyncContext, now: datetime) -> int:
    """Linked requests follow their own life: when the job they joined is withdrawn, cancelled, closed
    by the contact centre (duplicate, not ours, ...) or dead-lettered, each is sent as its own job or
    linked to another open job for the same problem, and its history says why."""
    master = aliased(Dispatch)
    master_request = aliased(Request)
    orphans = session.scalars(
        select(Dispatch)
        .join(Request, Request.id == Dispatch.request_id)
        .join(master, master.id == Dispatch.linked_dispatch_id)
        .join(master_request, master_request.id == master.request_id)
        .where(
            Dispatch.provider == ctx.provider,
            Dispatch.state == states.LINKED,
            Request.status.not_in(list(CLOSED)),
            or_(master.state.in_((states.DEAD, states.CANCELLED)),
                master_request.status.in_(list(ENDED_WITHOUT_WORK))),
        )
        .order_by(Request.registered_at, Request.id)
    ).all()
    for dispatch in orphans:
        request, gone = dispatch.request, session.get(Dispatch, dispatch.linked_dispatch_id)
        why = (f"the job it followed ({gone.request.number}) was {gone.state}" if gone.state in
               (states.DEAD, states.CANCELLED) else f"{gone.request.number} was closed as {gone.request.status}")
        move(dispatch, Event.RELEASED, now)
        dispatch.linked_dispatch_id, dispatch.next_attempt_at = None, now
        add_history(session, request, actor=ctx.actor, field="link", old=f"request {gone.request.number}", new=None,
                    at=now, note=f"{why}, without doing this request's work: it goes on by itself")
        if request.status != RequestStatus.REGISTERED:
            set_request_status(session, request, RequestStatus.REGISTERED, actor=ctx.actor, at=now,
                               note=f"released from {gone.request.number}")
        session.flush()
        link_if_known(session, ctx, request, now)  # else pending: sent as a job of its own by this push
    return len(orphans)


def reopen_after_extension(session: Session, provider: str, notice_id: str, now: datetime) -> int:
    """The works overran: a revision extended an announcement that had expired. The linked requests
    its expiry closed as done are open again, following it, and their history says why."""
    announcement = session.scalars(
        select(Announcement).where(Announcement.provider == provider, Announcement.notice_id == notice_id)
    ).one()
    if announcement.state != ACTIVE:
        return 0
    closed = session.scalars(
        select(Request).where(Request.announcement_id == announcement.id, Request.status == RequestStatus.DONE)
    ).all()
    reopened = 0
    for request in closed:
        last = request.history[-1] if request.history else None
        if last is None or not last.actor.startswith("sync:") or f"({provider}/{notice_id})" not in (last.note or ""):
            continue  # closed by someone else, or for another reason: not ours to reopen
        until = announcement.ends_at.isoformat() if announcement.ends_at else "further notice"
        set_request_status(session, request, RequestStatus.IN_PROGRESS, actor=f"sync:{provider}", at=now,
                           note=f"the utility extended the works ({provider}/{notice_id}, revision "
                           f"{announcement.revision}, until {until}): not finished after all")
        reopened += 1
    return reopened
