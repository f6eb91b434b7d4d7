"""A client-side sliding-window limiter, so the gateway stays under Екоспецтранс's limit instead of
living on 429s.

The server counts requests by when it receives them; the client only knows when it sends them and
when the answer came back. A request therefore occupies the window from the moment it is sent until
one window after its answer arrived (the latest moment the server can have received it). Admitting a
request only while fewer than ``limit`` requests occupy the window guarantees that no ``window``
seconds of the server's clock ever see more than ``limit`` requests, whatever the network delay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("gateway.connectors.ecospectrans")


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


_shared: dict[tuple[str, str, int, float], SlidingWindowLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(base_url: str, client_id: str, limit: int, window: float) -> SlidingWindowLimiter:
    """One limiter per (endpoint, client) in this process: the utility limits the client, not one
    connector object, so every connector instance talking as that client shares the budget."""
    key = (base_url.rstrip("/"), client_id, limit, window)
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            limiter = _shared[key] = SlidingWindowLimiter(limit, window)
        return limiter
