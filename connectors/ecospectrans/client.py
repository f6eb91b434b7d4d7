"""An authorised call to Екоспецтранс: bearer token attached, renewed once on 401 and the call repeated
(the utility checks the token before it does anything, so repeating a refused call is safe), 429
turned into a RetriableError carrying Retry-After.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from connectors.ecospectrans.oauth import ClientCredentials
from connectors.ecospectrans.ratelimit import shared_limiter
from connectors.ecospectrans.transport import Transport, parse_retry_after
from gateway.connections import ConnectionConfig
from gateway.connector import Timeouts
from gateway.errors import ConfigError, FatalError, RetriableError

log = logging.getLogger("gateway.connectors.ecospectrans")

DEFAULT_RATE_LIMIT = 5  # requests per second per client, the contract's limit
DEFAULT_RATE_WINDOW = 1.0


def rate_settings(extra: dict[str, Any]) -> tuple[int | None, float]:
    """(limit, window) from the connection's extra: ``rate_limit`` (requests per window, "off" to
    disable) and ``rate_window`` (seconds)."""
    raw_limit = extra.get("rate_limit", DEFAULT_RATE_LIMIT)
    raw_window = extra.get("rate_window", DEFAULT_RATE_WINDOW)
    if raw_limit is None or str(raw_limit).strip().lower() in ("off", "none", "0"):
        limit = None
    else:
        try:
            limit = int(raw_limit)
        except (TypeError, ValueError):
            raise ConfigError(f"ecospectrans connection extra rate_limit {raw_limit!r} is not a number") from None
        if limit < 1:
            raise ConfigError(f"ecospectrans connection extra rate_limit {raw_limit!r} must be positive")
    try:
        window = float(raw_window)
    except (TypeError, ValueError):
        raise ConfigError(f"ecospectrans connection extra rate_window {raw_window!r} is not a number") from None
    if window <= 0:
        raise ConfigError(f"ecospectrans connection extra rate_window {raw_window!r} must be positive")
    return limit, window


class ApiClient:
    def __init__(self, connection: ConnectionConfig, timeouts: Timeouts) -> None:
        limit, window = rate_settings(connection.extra)
        client_id = connection.login or ""
        limiter = shared_limiter(connection.base_url, client_id, limit, window) if limit else None
        self.transport = Transport(connection.base_url, timeouts, limiter, secrets=connection.secrets())
        self.credentials = ClientCredentials(self.transport, client_id, connection.password or "")
        self._configured = bool(connection.login and connection.password)

    def call(self, method: str, path: str, *, route: str, unsafe: bool = False, **kwargs: Any) -> requests.Response:
        """Send with a valid token; returns any answer but 401 and 429, which it handles."""
        if not self._configured:
            raise FatalError("ecospectrans connection lacks the client id (login) or the client secret (password)")
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (1, 2):
            token = self.credentials.token()
            headers["Authorization"] = f"Bearer {token}"
            response = self.transport.send(method, path, route=route, unsafe=unsafe, headers=headers, **kwargs)
            if response.status_code != 401:
                break
            self.credentials.invalidate(token)
            if attempt == 1:
                log.warning("%s: access token refused (HTTP 401); renewing it and repeating the call once", route)
        else:
            raise FatalError(f"ecospectrans {route}: a freshly issued access token was refused (HTTP 401)")
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            log.warning("%s: rate limited by ecospectrans (HTTP 429), retry after %s s", route, retry_after)
            raise RetriableError(f"ecospectrans {route}: rate limited (HTTP 429)", retry_after=retry_after)
        return response

    def close(self) -> None:
        self.transport.close()
