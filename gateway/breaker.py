"""A circuit breaker per utility: after consecutive failed calls the gateway stops calling a utility
that is down, probes it once per interval, and closes again on the first answer.

It counts calls, not steps: a step that made no call (nothing to do) changes nothing, and a step
that caught its failures item by item (a push whose creates all failed) still opens it.

Its state lives in the database (gw_circuit_breakers) because Airflow runs every task in a new
process; an in-memory breaker would forget between tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from gateway.models import CircuitBreaker

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failures_to_open: int = 5  # consecutive failed calls (each retry is a call)
    probe_interval: timedelta = timedelta(minutes=5)
    item_failures_to_stop: int = 10  # consecutive items failing for the utility's sake end a push step


@dataclass
class CallOutcomes:
    """What one step's calls did, in order: True an answer, False a failure."""

    sequence: list[bool] = field(default_factory=list)
    last_error: str | None = None

    def answered(self) -> None:
        self.sequence.append(True)

    def failed(self, error: str) -> None:
        self.sequence.append(False)
        self.last_error = error


def _row(session: Session, provider: str, now: datetime) -> CircuitBreaker:
    row = session.get(CircuitBreaker, provider, with_for_update=True)
    if row is None:
        row = CircuitBreaker(provider=provider, state=CLOSED, consecutive_failures=0, updated_at=now)
        session.add(row)
    return row


def before_step(session: Session, provider: str, now: datetime) -> tuple[bool, CircuitBreaker]:
    """May this step call the utility? An open breaker whose probe time has come lets one step through."""
    row = _row(session, provider, now)
    if row.state == OPEN:
        if row.next_probe_at is not None and row.next_probe_at <= now:
            row.state, row.updated_at = HALF_OPEN, now
            return True, row
        return False, row
    return True, row


def after_calls(session: Session, provider: str, now: datetime, policy: BreakerPolicy,
                outcomes: CallOutcomes) -> CircuitBreaker:
    """Fold one step's calls into the breaker; no call: no change (a half-open probe stays due)."""
    row = _row(session, provider, now)
    if not outcomes.sequence:
        if row.state == HALF_OPEN:  # the probe made no call: probe again next step
            row.state = OPEN
        return row
    row.updated_at = now
    for answered in outcomes.sequence:
        if answered:
            row.state, row.consecutive_failures, row.opened_at, row.next_probe_at = CLOSED, 0, None, None
            continue
        row.consecutive_failures += 1
        if row.state == HALF_OPEN or row.consecutive_failures >= policy.failures_to_open:
            if row.state != OPEN:
                row.opened_at = now
            row.state = OPEN
            row.next_probe_at = now + policy.probe_interval
    if outcomes.last_error is not None and not outcomes.sequence[-1]:
        row.last_error = outcomes.last_error
    return row
