"""The dispatch state machine: where one request stands with one utility, and every way it moves on.

A *dispatch* is one request handed to one utility. Every change of its state goes through
``next_state`` (an unknown pair of state and event is a bug, and raises), and every state that is
not final has a timeout with an exit (``TIMEOUTS``), so nothing waits for ever:

pending    not yet sent, or certainly not received (a retriable failure): safe to create.
           exit: created / refused / closed by the contact centre; timeout: MAX_ATTEMPTS -> dead
in_flight  a create was started and its outcome is not known yet.
           exit: the call's answer; timeout: the claim's lease ends -> unknown (look up first)
unknown    a create ended ambiguously: look up by our reference before any second create.
           exit: found -> sent, proven absent -> pending (or cancelled when the contact centre
           closed the request meanwhile); timeout: MAX_LOOKUPS -> dead, naming why
awaiting   the utility accepted the job asynchronously: we hold its token, not yet its id.
           exit: resolved -> sent; timeout: AWAITING_POLLS polls or AWAITING_FOR -> a lookup by
           our reference -> sent, or dead naming why
sent       the utility's job id is known (final for creation; the reconciliation may find the job
           gone at the utility -> dead, for a person)
linked     not sent: the request joined a known outage or an open job (gateway.linking); released
           -> pending when what it joined ends without doing its work
cancelled  the contact centre closed the request before any job existed: nothing is sent
dead       refused for good, or given up on: a dead letter explains why; ``gateway dlq retry``
           replays it, and a change from the utility naming it adopts the job
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class State(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    UNKNOWN = "unknown"
    AWAITING = "awaiting"
    SENT = "sent"
    LINKED = "linked"
    CANCELLED = "cancelled"
    DEAD = "dead"


class Event(StrEnum):
    START_CREATE = "start_create"  # the create call is about to go out (committed first)
    CREATED = "created"  # the utility answered with the job id
    ACCEPTED = "accepted"  # the utility answered with a token (asynchronous create)
    FAILED_RETRIABLE = "failed_retriable"  # certainly not created
    AMBIGUOUS = "ambiguous"  # may have been created
    REFUSED = "refused"  # the utility refused the job, or its mapping cannot be sent
    LEASE_EXPIRED = "lease_expired"  # found in flight by a claimant: its worker died or lost the claim
    FOUND = "found"  # a lookup (or the utility's own feed) shows the job
    ABSENT = "absent"  # a lookup proves there is no job
    LOOKUP_FAILED = "lookup_failed"  # the lookup itself failed or was refused: try again later
    NOT_YET = "not_yet"  # the token's job is not created yet
    GAVE_UP = "gave_up"  # a timeout ran out: a person decides (dead letter naming why)
    CLOSED_BY_CONTACT_CENTRE = "closed_by_contact_centre"  # withdrawn / duplicate / ... before any job
    LINK = "link"  # joined a known outage or an open job
    RELEASED = "released"  # what it joined ended without doing its work, or it was reopened
    VANISHED = "vanished"  # the reconciliation: the utility no longer knows the job
    RETRIED = "retried"  # a person replays the dead letter (look up first when a create was tried)
    RETRIED_FRESH = "retried_fresh"  # ... of a dispatch that never reached the utility


PENDING, IN_FLIGHT, UNKNOWN, AWAITING = State.PENDING, State.IN_FLIGHT, State.UNKNOWN, State.AWAITING
SENT, LINKED, CANCELLED, DEAD = State.SENT, State.LINKED, State.CANCELLED, State.DEAD

TRANSITIONS: dict[tuple[State, Event], State] = {
    (PENDING, Event.START_CREATE): IN_FLIGHT,
    (PENDING, Event.REFUSED): DEAD,
    (PENDING, Event.GAVE_UP): DEAD,
    (PENDING, Event.CLOSED_BY_CONTACT_CENTRE): CANCELLED,
    (PENDING, Event.LINK): LINKED,
    (PENDING, Event.FOUND): SENT,  # the utility's feed names a job for it (a create we did not see end)
    (IN_FLIGHT, Event.CREATED): SENT,
    (IN_FLIGHT, Event.ACCEPTED): AWAITING,
    (IN_FLIGHT, Event.FAILED_RETRIABLE): PENDING,
    (IN_FLIGHT, Event.AMBIGUOUS): UNKNOWN,
    (IN_FLIGHT, Event.REFUSED): DEAD,
    (IN_FLIGHT, Event.LEASE_EXPIRED): UNKNOWN,
    (IN_FLIGHT, Event.FOUND): SENT,
    (UNKNOWN, Event.FOUND): SENT,
    (UNKNOWN, Event.ABSENT): PENDING,
    (UNKNOWN, Event.LOOKUP_FAILED): UNKNOWN,
    (UNKNOWN, Event.GAVE_UP): DEAD,
    (UNKNOWN, Event.REFUSED): DEAD,
    (UNKNOWN, Event.CLOSED_BY_CONTACT_CENTRE): CANCELLED,  # only once absence is proven
    (AWAITING, Event.FOUND): SENT,
    (AWAITING, Event.NOT_YET): AWAITING,
    (AWAITING, Event.LOOKUP_FAILED): AWAITING,
    (AWAITING, Event.GAVE_UP): DEAD,
    (AWAITING, Event.REFUSED): DEAD,
    (SENT, Event.FOUND): SENT,  # seen again at the utility (reconciliation, a repeated answer)
    (SENT, Event.VANISHED): DEAD,
    (LINKED, Event.RELEASED): PENDING,
    (LINKED, Event.CLOSED_BY_CONTACT_CENTRE): LINKED,  # nothing was sent: nothing to tell
    (CANCELLED, Event.FOUND): SENT,  # a job after all (the feed adopts it; the closure then reaches it)
    (DEAD, Event.RETRIED): UNKNOWN,
    (DEAD, Event.RETRIED_FRESH): PENDING,
    (DEAD, Event.FOUND): SENT,
}

FINAL = frozenset({SENT, LINKED, CANCELLED, DEAD})
CLAIMABLE = (PENDING, IN_FLIGHT, UNKNOWN, AWAITING)
NEEDS_LOOKUP = (IN_FLIGHT, UNKNOWN)
HAS_NO_JOB_YET = (PENDING, IN_FLIGHT, UNKNOWN, AWAITING)

MAX_ATTEMPTS = 24  # creates that certainly did not land (pending): then a person looks at it
MAX_LOOKUPS = 12  # lookups of an unknown dispatch that could not settle it
AWAITING_POLLS = 40  # polls of an asynchronous token before our reference is looked up instead
AWAITING_FOR = timedelta(hours=6)  # ... or this long since the utility accepted the job


@dataclass(frozen=True)
class Timeout:
    """What ends a non-final state when nothing else does, and the event it fires."""

    after: str
    event: Event
    then: State


TIMEOUTS: dict[State, Timeout] = {
    PENDING: Timeout(f"{MAX_ATTEMPTS} attempts", Event.GAVE_UP, DEAD),
    IN_FLIGHT: Timeout("the claim's lease", Event.LEASE_EXPIRED, UNKNOWN),
    UNKNOWN: Timeout(f"{MAX_LOOKUPS} lookups", Event.GAVE_UP, DEAD),
    AWAITING: Timeout(f"{AWAITING_POLLS} polls or {AWAITING_FOR}, then a lookup by reference", Event.GAVE_UP, DEAD),
}


class IllegalTransition(RuntimeError):
    """A state and an event the machine does not know: a bug, never silently ignored."""


def next_state(state: str, event: Event) -> State:
    try:
        return TRANSITIONS[(State(state), event)]
    except (KeyError, ValueError):
        raise IllegalTransition(f"dispatch in state {state!r} cannot take event {event.value!r}") from None


def move(dispatch: Any, event: Event, now: datetime) -> None:
    """Apply one event to a dispatch (gateway.models.Dispatch): its state, and since when."""
    new = next_state(dispatch.state, event)
    if new != dispatch.state:
        dispatch.state, dispatch.state_since = new, now
    dispatch.updated_at = now


def events_from(state: State) -> list[Event]:
    return [event for (source, event) in TRANSITIONS if source == state]
