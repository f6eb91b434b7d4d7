"""Client-side sliding-window limiters, so the gateway stays under a utility's rate limit (Екоспецтранс:
5 requests/s per client) instead of living on 429s: one per process, or one shared by every process
through the gateway database (a row lock serialises the admissions, on PostgreSQL and SQLite alike).

The server counts requests by when it receives them; the client only knows when it sends them and
when the answer came back. A request therefore occupies the window from the moment it is sent until
one window after its answer arrived (the latest moment the server can have received it). Admitting a
request only while fewer than ``limit`` requests occupy the window guarantees that no ``window``
seconds of the server's clock ever see more than ``limit`` requests, whatever the network delay.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from gateway.connections import ConnectionConfig
from gateway.db import DATABASE_URL_ENV, make_engine
from gateway.errors import ConfigError, FatalError
from gateway.toolkit.rate_tables import rate_buckets, rate_slots

log = logging.getLogger("gateway.toolkit.ratelimit")


class SlidingWindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds, counting every request sent."""

    def __init__(
        self,
        limit: int,
        window: float = 1.0,
        *,
        margin: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window + margin  # a little slack for clock granularity
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._finished: deque[float] = deque()  # when answers arrived, oldest first
        self.waited = 0.0  # total seconds spent holding requests back (for logs and tests)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold the caller until a request may be sent; the request is counted until it ends."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def _acquire(self) -> None:
        with self._cond:
            started = self._clock()
            while True:
                now = self._clock()
                while self._finished and now - self._finished[0] >= self.window:
                    self._finished.popleft()
                if self._in_flight + len(self._finished) < self.limit:
                    self._in_flight += 1
                    break
                timeout = self._finished[0] + self.window - now if self._finished else None
                self._cond.wait(timeout)
            held = self._clock() - started
            if held > 0.001:
                self.waited += held
                log.debug("rate limiter held a request for %.3f s", held)

    def _release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._finished.append(self._clock())
            self._cond.notify_all()


class DatabaseLimiter:
    """The same rule as SlidingWindowLimiter, with the window held in the gateway database so that
    every process (Airflow workers, ``gateway sync``) talking as one client shares one budget.

    Admission is one short transaction that first updates the key's row in ``gw_rate_buckets``: that
    UPDATE takes the row lock on PostgreSQL and the write lock on SQLite, so admissions of all
    processes are serialised. Slots of a process that died before its answer (no ``finished``) are
    dropped after ``stale_after`` seconds. Times are the hosts' wall clock (keep them in NTP sync).
    """

    def __init__(self, engine: Engine, key: str, limit: int, window: float = 1.0, *, margin: float = 0.02,
                 stale_after: float = 120.0, poll: float = 0.05) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.engine, self.key, self.limit = engine, key, limit
        self.window = window + margin
        self.stale_after = max(stale_after, self.window)
        self.poll = poll
        self.waited = 0.0
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        try:
            with self.engine.begin() as conn:
                exists = conn.execute(select(rate_buckets.c.key).where(rate_buckets.c.key == self.key)).first()
                if exists is None:
                    conn.execute(rate_buckets.insert().values(key=self.key, touched=time.time()))
        except IntegrityError:
            pass  # another process created it meanwhile
        except (OperationalError, ProgrammingError) as exc:
            if "gw_rate" in str(exc):
                raise FatalError("the gateway database has no rate-limit tables: run `gateway db upgrade`") from None
            raise

    @contextmanager
    def slot(self) -> Iterator[None]:
        slot_id = self._acquire()
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(update(rate_slots).where(rate_slots.c.id == slot_id).values(finished=time.time()))

    def _acquire(self) -> int:
        started = time.monotonic()
        while True:
            with self.engine.begin() as conn:
                now = time.time()
                # the lock: every admission of this key waits here for the one before it to commit
                conn.execute(update(rate_buckets).where(rate_buckets.c.key == self.key).values(touched=now))
                mine = rate_slots.c.key == self.key
                conn.execute(delete(rate_slots).where(mine, or_(
                    rate_slots.c.finished <= now - self.window,
                    and_(rate_slots.c.finished.is_(None), rate_slots.c.started <= now - self.stale_after))))
                busy, oldest = conn.execute(select(func.count(), func.min(rate_slots.c.finished)).where(mine)).one()
                if busy < self.limit:
                    inserted = conn.execute(rate_slots.insert().values(key=self.key, started=now))
                    slot_id = inserted.inserted_primary_key[0]
                    break
            wait = oldest + self.window - now if oldest is not None else self.poll
            time.sleep(min(max(wait, 0.001), 0.25))
        held = time.monotonic() - started
        if held > 0.001:
            self.waited += held
            log.debug("shared rate limiter held a request for %.3f s", held)
        return int(slot_id)


_shared: dict[tuple, SlidingWindowLimiter | DatabaseLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(connection: ConnectionConfig, limit: int, window: float, *, stale_after: float = 120.0):
    """One limiter per (endpoint, client): the utility limits the client, not one connector object.

    Connection extra ``rate_limit_store``: ``database`` (the gateway database: GATEWAY_DATABASE_URL, or
    a URL in extra ``rate_limit_db``), ``process``, or absent: the database when GATEWAY_DATABASE_URL is
    set (as in Airflow tasks and ``gateway sync``), else this process.
    """
    store = str(connection.extra.get("rate_limit_store") or "").strip().lower()
    url = connection.extra.get("rate_limit_db") or os.environ.get(DATABASE_URL_ENV)
    if store not in ("", "database", "process"):
        raise ConfigError(f"connection {connection.conn_id}: rate_limit_store {store!r} is not database or process")
    if store == "database" and not url:
        raise ConfigError(f"connection {connection.conn_id}: rate_limit_store database needs {DATABASE_URL_ENV}")
    shared = store == "database" or (store == "" and bool(url))
    key = f"{connection.base_url.rstrip('/')}|{connection.login or ''}|{limit}/{window:g}s"
    with _shared_lock:
        cache_key = (key, url if shared else None)
        limiter = _shared.get(cache_key)
        if limiter is None:
            if shared:
                limiter = DatabaseLimiter(make_engine(url), key, limit, window, stale_after=stale_after)
            else:
                limiter = SlidingWindowLimiter(limit, window)
            _shared[cache_key] = limiter
        return limiter


def rate_settings(connection: ConnectionConfig, default_limit: int, default_window: float = 1.0):
    """(limit or None for off, window) from extra ``rate_limit`` ("off" disables) and ``rate_window``."""
    extra, name = connection.extra, connection.conn_id
    raw_limit, raw_window = extra.get("rate_limit", default_limit), extra.get("rate_window", default_window)
    if raw_limit is None or str(raw_limit).strip().lower() in ("off", "none", "0"):
        limit = None
    else:
        try:
            limit = int(raw_limit)
        except (TypeError, ValueError):
            raise ConfigError(f"connection {name}: extra rate_limit {raw_limit!r} is not a number") from None
        if limit < 1:
            raise ConfigError(f"connection {name}: extra rate_limit {raw_limit!r} must be positive")
    try:
        window = float(raw_window)
    except (TypeError, ValueError):
        raise ConfigError(f"connection {name}: extra rate_window {raw_window!r} is not a number") from None
    if window <= 0:
        raise ConfigError(f"connection {name}: extra rate_window {raw_window!r} must be positive")
    return limit, window
