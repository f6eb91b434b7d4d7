"""The figures of ``gateway status`` in the Prometheus text exposition format (prometheus-client).

Every scrape reads the database afresh through one collector, so ``gateway metrics``, the
``/metrics`` endpoint of the status page and the Airflow plugin expose the same gauges. Labels are
utility names and breaker states only: no request, address or resident ever becomes a label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from gateway.breaker import CLOSED, HALF_OPEN, OPEN
from gateway.status import UtilityStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = (CLOSED, OPEN, HALF_OPEN)

# name, help, value of a UtilityStatus (None: not exported for that utility)
GAUGES: tuple[tuple[str, str, Callable[[UtilityStatus], float | None]], ...] = (
    ("gateway_pending_requests", "Requests not yet at the utility (claimable dispatches and not yet enqueued).",
     lambda r: r.pending),
    ("gateway_oldest_pending_age_seconds", "Age of the oldest request not yet at the utility (0: none).",
     lambda r: r.oldest_pending_age_s or 0.0),
    ("gateway_last_good_push_timestamp_seconds", "Unix time of the last good push_jobs run.",
     lambda r: r.last_good_push.timestamp() if r.last_good_push else None),
    ("gateway_last_good_pull_timestamp_seconds", "Unix time of the last good pull (status changes or planned works).",
     lambda r: r.last_good_pull.timestamp() if r.last_good_pull else None),
    ("gateway_status_lag_seconds", "Seconds since the last good status pull: how old statuses may be.",
     lambda r: r.status_lag_s),
    ("gateway_sync_failures_24h", "Failed sync steps in the last 24 hours.", lambda r: r.failures_24h),
    ("gateway_dead_letters_open", "Open dead letters waiting for a person.", lambda r: r.dead_letters),
    ("gateway_unmapped_requests", "Open dead letters of requests whose item the mapping does not serve.",
     lambda r: r.unmapped),
    ("gateway_needs_person", "1 when gateway status asks for a person, else 0.", lambda r: int(r.needs_person)),
)


class StatusCollector(Collector):
    """Turns a fresh status snapshot into metric families on every collect()."""

    def __init__(self, snapshot: Callable[[], list[UtilityStatus]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        rows = self._snapshot()
        for name, help_text, value in GAUGES:
            family = GaugeMetricFamily(name, help_text, labels=["utility"])
            for row in rows:
                if (v := value(row)) is not None:
                    family.add_metric([row.utility], float(v))
            yield family
        breaker = StateSetMetricFamily("gateway_circuit_breaker_state", "Circuit breaker state per utility.",
                                       labels=["utility"])
        for row in rows:
            breaker.add_metric([row.utility], {state: row.breaker == state for state in BREAKER_STATES})
        yield breaker


def render(snapshot: Callable[[], list[UtilityStatus]]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(snapshot))
    return generate_latest(registry)


def exposition(session: Session, now: datetime | None = None) -> bytes:
    """The metrics page for the database behind ``session``."""
    from gateway.db import utcnow
    from gateway.registry import load_registry
    from gateway.status import utility_status

    return render(lambda: utility_status(session, load_registry(), now or utcnow()))
