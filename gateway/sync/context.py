"""Everything one utility's sync steps need, built once per task run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.breaker import BreakerPolicy
from gateway.classifier import default_classifier
from gateway.connections import ConnectionConfig
from gateway.connector import Connector
from gateway.db import session_factory, utcnow
from gateway.mapping import Mapping, load_mapping
from gateway.registry import Manifest
from gateway.sync.locks import HeldLock, new_owner
from gateway.sync.retry import RetryPolicy


def load_manifest_mapping(manifest: Manifest) -> Mapping:
    """The utility's mapping, checked against its connector's statuses and the items it serves."""
    served = [i.key for i in default_classifier().current.items if i.executor == manifest.executor]
    return load_mapping(manifest.mapping_file, utility_statuses=manifest.connector_class.statuses, served_items=served)


@dataclass
class SyncContext:
    manifest: Manifest
    mapping: Mapping
    connector: Connector
    sessions: sessionmaker[Session]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = utcnow
    lease: timedelta = timedelta(minutes=10)  # a claimed dispatch is someone's for this long
    max_pages: int = 50  # per pull run, so one run cannot go on for ever
    pending_rounds: int = 5  # how often a push run re-checks asynchronously created jobs
    pending_interval: float = 0.5  # seconds between those checks
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    owner: str = field(default_factory=new_owner)  # this runner's token on every claim it makes
    held: HeldLock | None = None  # the step's lock while a step runs (gateway.sync.engine)

    def still_holding(self) -> None:
        """Between two items: stop (StepLockLost) if this runner no longer holds the step."""
        if self.held is not None:
            self.held.ensure()

    @property
    def dispatch_lease(self) -> timedelta:
        """A claim outlives the longest call it covers: every attempt timing out, every wait between."""
        t, r = self.connector.timeouts, self.retry
        longest = r.attempts * (t.connect + t.read) + (r.attempts - 1) * max(r.maximum, r.max_retry_after)
        return max(self.lease, timedelta(seconds=2 * longest))

    @property
    def provider(self) -> str:
        return self.manifest.name

    @property
    def actor(self) -> str:
        return f"sync:{self.manifest.name}"

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"gateway.sync.{self.manifest.name}")


def build_context(manifest: Manifest, connection: ConnectionConfig, engine: Engine, **options) -> SyncContext:
    connector = manifest.connector_class(connection, timeouts=manifest.timeouts)
    return SyncContext(
        manifest=manifest,
        mapping=load_manifest_mapping(manifest),
        connector=connector,
        sessions=session_factory(engine),
        **options,
    )
