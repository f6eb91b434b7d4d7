"""Dead letters for people: list, show, retry (idempotent), discard.

Retry puts the item back where the engine will pick it up again; it never calls a utility itself,
so retrying twice cannot send twice: the dispatch, its idempotency key and the lookup-before-create
rules still apply.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db import utcnow
from gateway.errors import GatewayError
from gateway.models import DeadLetter, Dispatch, OutboundUpdate
from gateway.sync import states


def list_letters(session: Session, *, state: str = "open", provider: str | None = None) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.id)
    if state != "all":
        query = query.where(DeadLetter.state == state)
    if provider:
        query = query.where(DeadLetter.provider == provider)
    return list(session.scalars(query))


def _letter(session: Session, letter_id: int) -> DeadLetter:
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise GatewayError(f"no dead letter {letter_id}")
    return letter


def describe(session: Session, letter_id: int) -> dict[str, Any]:
    letter = _letter(session, letter_id)
    return {
        "id": letter.id, "utility": letter.provider, "stream": letter.stream, "item": letter.item_key,
        "request_id": letter.request_id, "error_class": letter.error_class, "message": letter.message,
        "attempts": letter.attempts, "state": letter.state, "first_seen": letter.first_seen_at,
        "last_seen": letter.last_seen_at, "payload": letter.payload,
    }


def retry(session: Session, letter_id: int) -> str:
    """Re-queue what failed. Retrying a letter already retried changes nothing."""
    letter = _letter(session, letter_id)
    if letter.state == "retried":
        return f"dead letter {letter_id} was already retried"
    now = utcnow()
    if letter.stream == "jobs":
        dispatch = session.scalars(
            select(Dispatch).where(Dispatch.provider == letter.provider, Dispatch.reference == letter.item_key)
        ).one_or_none()
        if dispatch is None:
            raise GatewayError(f"dead letter {letter_id}: no dispatch for {letter.item_key} at {letter.provider}")
        if dispatch.state == states.DEAD:
            # The utility may have the job after all (a refusal after a lost reply): look up first.
            dispatch.state = states.UNKNOWN if dispatch.attempts else states.PENDING
            dispatch.next_attempt_at, dispatch.lease_until, dispatch.updated_at = now, None, now
        outcome = f"request {letter.item_key} queued again for {letter.provider}"
    elif letter.stream == "updates":
        update = session.get(OutboundUpdate, int(letter.item_key))
        if update is not None and update.state == "dead":
            update.state = "pending"
        outcome = f"update {letter.item_key} queued again for {letter.provider}"
    else:
        raise GatewayError(
            f"dead letter {letter_id} ({letter.stream}) came from the utility's feed: it cannot be re-queued here; "
            "fix the mapping or ask the utility to resend, then discard it"
        )
    letter.state, letter.last_seen_at = "retried", now
    return outcome


def discard(session: Session, letter_id: int, *, reason: str) -> str:
    letter = _letter(session, letter_id)
    letter.state = "discarded"
    letter.message = f"{letter.message} [discarded: {reason}]"
    return f"dead letter {letter_id} discarded"
