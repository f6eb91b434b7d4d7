"""OAuth2 client credentials (RFC 6749 4.4) for Екоспецтранс: one token, cached and renewed shortly
before it expires, or at once when the API refuses it.

The token and the client secret never reach a log or an exception message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_plus

from connectors.ecospectrans.transport import Transport, parse_retry_after
from gateway.errors import FatalError, RetriableError

log = logging.getLogger("gateway.connectors.ecospectrans")

TOKEN_PATH = "/oauth/token"
DEFAULT_LIFETIME = 300.0  # the contract's lifetime, used when the answer omits expires_in
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


@dataclass(frozen=True)
class _Token:
    value: str = ""
    renew_at: float = 0.0  # monotonic


def renewal_margin(lifetime: float) -> float:
    """Renew this long before expiry: 10 % of the lifetime, at most 30 s (so a call in flight and
    a clock a little off do not meet an expired token)."""
    return min(30.0, lifetime * 0.1)


class ClientCredentials:
    """Fetches and caches the bearer token."""

    def __init__(
        self,
        transport: Transport,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._token = _Token()
        self.fetched = 0  # tokens obtained by this instance

    def token(self) -> str:
        """A token valid for a while yet: the cached one, or a new one."""
        with self._lock:
            if not self._token.value or self._clock() >= self._token.renew_at:
                self._token = self._fetch()
            return self._token.value

    def invalidate(self, value: str) -> None:
        """The API refused ``value``: forget it (unless another thread already replaced it)."""
        with self._lock:
            if self._token.value == value:
                self._token = _Token()

    def _fetch(self) -> _Token:
        route = f"POST {TOKEN_PATH}"
        started = self._clock()
        response = self._transport.send(
            "POST",
            TOKEN_PATH,
            route=route,
            unsafe=False,  # a token issued but never received is harmless: ask again
            data={"grant_type": "client_credentials"},
            # RFC 6749 2.3.1: the id and secret are form-urlencoded before they go into Basic
            auth=(quote_plus(self._client_id), quote_plus(self._client_secret)),
        )
        status = response.status_code
        if status in (400, 401):
            code = self._error_code(response)
            raise FatalError(f"ecospectrans refused the client credentials (HTTP {status}, {code})")
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetriableError(f"ecospectrans {route}: rate limited (HTTP 429)", retry_after=retry_after)
        if status != 200:
            raise self._transport.failure(response, route, unsafe=False, item=False)
        body = self._transport.json(response, route, unsafe=False)
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise RetriableError(f"ecospectrans {route}: the answer has no access_token")
        token_type = str(body.get("token_type") or "bearer")
        if token_type.lower() != "bearer":
            raise FatalError(f"ecospectrans {route}: unsupported token_type {token_type[:20]!r}")
        lifetime = body.get("expires_in", DEFAULT_LIFETIME)
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME
        self.fetched += 1
        log.info("obtained an ecospectrans access token valid for %g s", lifetime)
        return _Token(value, started + lifetime - renewal_margin(float(lifetime)))

    @staticmethod
    def _error_code(response) -> str:
        try:
            code = response.json().get("error")
        except (ValueError, AttributeError, RecursionError):
            code = None
        return code if isinstance(code, str) and _ERROR_CODE.match(code) else "no error code"
