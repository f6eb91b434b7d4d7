"""One step of one utility at a time, across processes and hosts.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its own,
held for the whole step; it goes away with that connection, so a crashed worker never leaves it
behind. SQLite has no advisory locks: a row of ``gw_step_locks`` with an owner and a lease, taken
and renewed by conditional UPDATEs. Either way a second runner learns at once that the step is
taken (``StepBusy``) and the holder can check, between two items, that it still holds it.

The lock is the first guard; the second is the dispatch's owner token (gateway.sync.push): a worker
that lost its lock without knowing (a frozen process) can still never overwrite what the next
holder wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, or_, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError

from gateway.errors import GatewayError
from gateway.models import StepLock


class StepBusy(GatewayError):
    """Another runner holds this step of this utility."""


class StepLockLost(GatewayError):
    """The step's lock went away while the step ran (its connection died, its lease was taken)."""


def new_owner() -> str:
    return uuid.uuid4().hex


class HeldLock:
    def __init__(self, name: str, owner: str, check: Callable[[], bool]) -> None:
        self.name, self.owner, self._check = name, owner, check

    def ensure(self) -> None:
        """Raise StepLockLost unless the lock is still ours (and renew it where it has a lease)."""
        if not self._check():
            raise StepLockLost(f"lost the lock of {self.name} while the step ran; the rest is left to its holder")


@contextmanager
def step_lock(engine: Engine, name: str, *, clock: Callable[[], datetime], lease: timedelta,
              owner: str | None = None) -> Iterator[HeldLock]:
    owner = owner or new_owner()
    if engine.dialect.name == "postgresql":
        with _advisory(engine, name, owner) as held:
            yield held
    else:
        with _lease_row(engine, name, owner, clock, lease) as held:
            yield held


@contextmanager
def _advisory(engine: Engine, name: str, owner: str) -> Iterator[HeldLock]:
    conn: Connection = engine.connect()
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(hashtextextended(:n, 1520))"), {"n": name}).scalar()
        conn.commit()
        if not got:
            raise StepBusy(f"{name} is running elsewhere (advisory lock held); this runner leaves it be")

        def alive() -> bool:
            try:
                conn.execute(text("SELECT 1")).scalar()
                conn.commit()
                return True
            except DBAPIError:
                return False

        try:
            yield HeldLock(name, owner, alive)
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:n, 1520))"), {"n": name})
                conn.commit()
            except DBAPIError:  # the connection died (the server released the lock with it): never reuse it
                conn.invalidate()
    finally:
        conn.close()


@contextmanager
def _lease_row(engine: Engine, name: str, owner: str, clock: Callable[[], datetime],
               lease: timedelta) -> Iterator[HeldLock]:
    def take() -> bool:
        now = clock()
        with engine.begin() as conn:
            conn.execute(sqlite.insert(StepLock).values(name=name).on_conflict_do_nothing())
            taken = conn.execute(
                update(StepLock)
                .where(StepLock.name == name,
                       or_(StepLock.owner.is_(None), StepLock.lease_until < now, StepLock.owner == owner))
                .values(owner=owner, lease_until=now + lease, acquired_at=now)
            )
            return taken.rowcount == 1

    def renew() -> bool:
        now = clock()
        with engine.begin() as conn:
            return conn.execute(
                update(StepLock).where(StepLock.name == name, StepLock.owner == owner)
                .values(lease_until=now + lease)
            ).rowcount == 1

    if not take():
        raise StepBusy(f"{name} is running elsewhere (its lock row is leased); this runner leaves it be")
    try:
        yield HeldLock(name, owner, renew)
    finally:
        with engine.begin() as conn:
            conn.execute(update(StepLock).where(StepLock.name == name, StepLock.owner == owner)
                         .values(owner=None, lease_until=None))
