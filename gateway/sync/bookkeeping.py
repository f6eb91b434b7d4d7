"""Dead letters, cursors, sync-run records and request history: the engine's shared writes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import utcnow
from gateway.models import Cursor, DeadLetter, OutboundUpdate, Request, RequestHistory, SyncRun
from gateway.statuses import CLOSED, CONTACT_CENTRE_CLOSURES, RequestStatus
from gateway.toolkit.redact import mask_phones


def redact_phones(text: str) -> str:
    return mask_phones(text)


def redact_payload(payload: Any) -> Any:
    """Payload copy safe to store for people to read: phone fields and phone-looking strings masked."""
    if isinstance(payload, dict):
        return {
            k: ("[redacted]" if v and ("phone" in k.lower() or "secret" in k.lower() or "token" in k.lower())
                else redact_payload(v))
            for k, v in payload.items()
        }
    if isinstance(payload, list | tuple):
        return [redact_payload(v) for v in payload]
    if isinstance(payload, str):
        return redact_phones(payload)
    return payload


def record_dead_letter(
    session: Session,
    *,
    provider: str,
    stream: str,
    item_key: str,
    payload: Any,
    error_class: str,
    message: str,
    request_id: int | None = None,
    now: datetime | None = None,
) -> DeadLetter:
    """Keep a failed item; the same item failing again bumps its attempts instead of doubling."""
    now = now or utcnow()
    letter = session.scalars(
        select(DeadLetter).where(
            DeadLetter.provider == provider, DeadLetter.stream == stream, DeadLetter.item_key == item_key
        )
    ).one_or_none()
    if letter is None:
        letter = DeadLetter(
            provider=provider, stream=stream, item_key=item_key, request_id=request_id, attempts=0,
            first_seen_at=now, last_seen_at=now, payload=None, error_class=error_class, message="",
        )
        session.add(letter)
    letter.payload = redact_payload(payload)
    letter.error_class = error_class
    letter.message = redact_phones(message)
    letter.attempts += 1
    letter.state = "open"
    letter.last_seen_at = now
    return letter


def get_cursor(session: Session, provider: str, stream: str) -> str | None:
    row = session.get(Cursor, (provider, stream))
    return row.value if row else None


def set_cursor(session: Session, provider: str, stream: str, value: str | None, now: datetime | None = None) -> None:
    row = session.get(Cursor, (provider, stream))
    if row is None:
        session.add(Cursor(provider=provider, stream=stream, value=value, updated_at=now or utcnow()))
    else:
        row.value, row.updated_at = value, now or utcnow()


def add_history(
    session: Session,
    request: Request,
    *,
    actor: str,
    field: str,
    old: str | None,
    new: str | None,
    note: str | None = None,
    at: datetime | None = None,
) -> None:
    at = at or utcnow()
    row = RequestHistory(request_id=request.id, at=at, actor=actor, field=field, old_value=old, new_value=new,
                         note=note)
    session.add(row)
    request.updated_at = at
    kind = outbox_kind(actor, field, new)
    if kind is not None:
        # The transactional outbox: the event commits with the change or not at all, so no event is
        # skipped by a reader that saw a later one first, and none waits on a cursor.
        session.add(OutboundUpdate(request_id=request.id, history=row, kind=kind, text=note or new or kind,
                                   state="pending", attempts=0, next_attempt_at=at, created_at=at))


def outbox_kind(actor: str, field: str, new: str | None) -> str | None:
    """Which contact-centre changes the utility must hear about (our own sync writes are not news)."""
    if actor.startswith("sync:"):
        return None
    if field == "details":
        return "details"
    if field != "status":
        return None
    if new == RequestStatus.REWORK:
        return "rework"
    if new == RequestStatus.WITHDRAWN:
        return "withdrawn"
    if new in CONTACT_CENTRE_CLOSURES:
        return "closed"
    return None


def set_request_status(session: Session, request: Request, status: str, *, actor: str, note: str | None = None,
                       at: datetime | None = None) -> bool:
    """Change a request's status with its history row; False when it already had that status.

    A sync's write (actor ``sync:…``) first takes the request's row lock and reads it again, and never
    overwrites a closure the contact centre committed meanwhile: without the lock that is a lost update
    under READ COMMITTED (the operator's closure read as open, then written over)."""
    if actor.startswith("sync:"):
        session.flush()  # our own pending writes survive the re-read
        session.refresh(request, with_for_update=True)  # PostgreSQL: FOR UPDATE; SQLite serialises writers
        if closed_by_contact_centre(session, request):
            return False
    if request.status == status:
        return False
    add_history(session, request, actor=actor, field="status", old=request.status, new=status, note=note, at=at)
    request.status = status
    return True


@contextmanager
def record_run(sessions: sessionmaker[Session], provider: str, step: str) -> Iterator[Counter[str]]:
    """Record one step's counts and duration in gw_sync_runs, also when it fails."""
    counts: Counter[str] = Counter()
    started, t0 = utcnow(), time.monotonic()
    with sessions() as session, session.begin():
        run = SyncRun(provider=provider, step=step, started_at=started, counts={}, outcome="running")
        session.add(run)
        session.flush()
        run_id = run.id
    outcome, error = "ok", None
    try:
        yield counts
    except Exception as exc:
        outcome, error = "failed", f"{type(exc).__name__}: {redact_phones(str(exc))}"
        raise
    finally:
        with sessions() as session, session.begin():
            run = session.get(SyncRun, run_id)
            run.finished_at = utcnow()
            run.duration_ms = int((time.monotonic() - t0) * 1000)
            run.counts = dict(counts)
            run.outcome, run.error = outcome, error


def closed_by_contact_centre(session: Session, request: Request) -> bool:
    """Closed, and by the contact centre (not by a utility's status): a utility's later change must
    not reopen it, and is kept as an executor comment instead."""
    if request.status not in CLOSED:
        return False
    actor = session.scalar(
        select(RequestHistory.actor)
        .where(RequestHistory.request_id == request.id, RequestHistory.field == "status",
               RequestHistory.new_value == request.status)
        .order_by(RequestHistory.id.desc()).limit(1)
    )
    return actor is None or not actor.startswith("sync:")
