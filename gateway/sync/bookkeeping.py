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
from gateway.models import Cursor, DeadLetter, Request, RequestHistory, SyncRun
from gateway.redact import mask_phones


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
    session.add(
        RequestHistory(request_id=request.id, at=at, actor=actor, field=field, old_value=old, new_value=new, note=note)
    )
    request.updated_at = at


def set_request_status(session: Session, request: Request, status: str, *, actor: str, note: str | None = None,
                       at: datetime | None = None) -> bool:
    """Change a request's status with its history row; False when it already had that status."""
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
