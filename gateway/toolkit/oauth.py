"""OAuth2 client credentials (RFC 6749 4.4): one token, cached and renewed shortly before it expires,
or at once when the API refuses it; and calls that carry it.

The token and the client secret never reach a log or an exception message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import requests

from gateway.errors import FatalError, RetriableError
from gateway.toolkit.http import HttpClient, parse_retry_after

log = logging.getLogger("gateway.toolkit.oauth")

DEFAULT_LIFETIME = 300.0  # used when the answer omits expires_in
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

    def __init__(self, http: HttpClient, client_id: str, client_secret: str, *, token_path: str = "/oauth/token",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self._client_id, self._client_secret = client_id, client_secret
        self._path = token_path
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
        what = f"POST {self._path}"
        started = self._clock()
        response = self._http.send(
            "POST", self._path, what=what,
            write=False,  # a token issued but never received is harmless: ask again
            data={"grant_type": "client_credentials"},
            # RFC 6749 2.3.1: the id and secret are form-urlencoded before they go into Basic
            auth=(quote_plus(self._client_id), quote_plus(self._client_secret)),
        )
        status = response.status_code
        if status in (400, 401):
            code = _error_code(response)
            raise FatalError(f"{self._http.name} refused the client credentials (HTTP {status}, {code})")
        if status == 429:
            raise throttled(response, f"{self._http.name} {what}")
        if status != 200:
            raise self._http.failure(response, what, write=False)
        body = self._http.json(response, what, write=False)
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise RetriableError(f"{self._http.name} {what}: the answer has no access_token")
        token_type = str(body.get("token_type") or "bearer")
        if token_type.lower() != "bearer":
            raise FatalError(f"{self._http.name} {what}: unsupported token_type {token_type[:20]!r}")
        lifetime = body.get("expires_in", DEFAULT_LIFETIME)
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME
        self.fetched += 1
        log.info("obtained a %s access token valid for %g s", self._http.name, lifetime)
        return _Token(value, started + lifetime - renewal_margin(float(lifetime)))


def throttled(response: requests.Response, where: str) -> RetriableError:
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    log.warning("%s: rate limited (HTTP 429), retry after %s s", where, retry_after)
    return RetriableError(f"{where}: rate limited (HTTP 429)", retry_after=retry_after)


def bearer_send(http: HttpClient, credentials: ClientCredentials, method: str, path: str, *, what: str,
                write: bool = False, **kwargs: Any) -> requests.Response:
    """Send with a valid token; a 401 renews the token once and repeats the call (the API checks the
    token before it does anything, so repeating a refused call is safe); a 429 is retriable."""
    headers = dict(kwargs.pop("headers", None) or {})
    for attempt in (1, 2):
        token = credentials.token()
        headers["Authorization"] = f"Bearer {token}"
        response = http.send(method, path, what=what, write=write, headers=headers, **kwargs)
        if response.status_code != 401:
            break
        credentials.invalidate(token)
        if attempt == 1:
            log.warning("%s %s: access token refused (HTTP 401); renewing it and repeating the call once",
                        http.name, what)
    else:
        raise FatalError(f"{http.name} {what}: a freshly issued access token was refused (HTTP 401)")
    if response.status_code == 429:
        raise throttled(response, f"{http.name} {what}")
    return response


def _error_code(response: requests.Response) -> str:
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError, RecursionError):
        code = None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else "no error code"
