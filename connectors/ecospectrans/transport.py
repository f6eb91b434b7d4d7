"""HTTP plumbing for Екоспецтранс: one session, the rate limiter around every request, (connect, read)
timeouts on every call, and transport failures and error statuses turned into gateway errors.

``unsafe`` marks a request that may create something (the ticket POST, a comment): a failure after it
was sent is ambiguous, not retriable, because the utility may have committed it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any

import requests
import urllib3.exceptions

from connectors.ecospectrans.ratelimit import SlidingWindowLimiter
from gateway.connector import Timeouts
from gateway.errors import AmbiguousError, ConnectorError, FatalError, PermanentError, RetriableError
from gateway.http import parse_retry_after

log = logging.getLogger("gateway.connectors.ecospectrans")

USER_AGENT = "kr-contact-gateway/0.1 (Kryvyi Rih contact centre 1520)"
# Nine or more digits, possibly split by spaces, dashes or brackets: a phone number in any notation.
_PHONE = re.compile(r"(?<![\w.])\+?\d(?:[\s()\-]*\d){8,}")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Text from the utility, safe for a log or an exception: secrets and phone numbers masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _PHONE.sub("[phone]", text)


def problem_summary(response: requests.Response, secrets: Iterable[str | None] = ()) -> str:
    """What an error answer says, naming invalid params when it is problem+json (RFC 7807)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        params = body.get("invalid-params") or body.get("invalid_params") or []
        for param in params if isinstance(params, list) else []:
            if isinstance(param, dict) and param.get("name"):
                reason = param.get("reason")
                parts.append(f"{param['name']}: {reason}" if reason else str(param["name"]))
        if not parts:
            parts = [str(body[k]) for k in ("title", "detail", "error", "error_description") if body.get(k)]
    text = "; ".join(parts) or (response.reason or "no details")
    return redact(text, secrets)[:500]


def _refused(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made (nothing was sent)."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError)


class Transport:
    """Sends requests; knows nothing of tokens or of what the calls mean."""

    def __init__(
        self,
        base_url: str,
        timeouts: Timeouts,
        limiter: SlidingWindowLimiter | None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self.limiter = limiter
        self.secrets = [s for s in secrets if s]
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def send(self, method: str, path: str, *, route: str, unsafe: bool, **kwargs: Any) -> requests.Response:
        """One HTTP exchange. ``route`` names the call in logs and errors (never a token or a query)."""
        gate = self.limiter.slot() if self.limiter else nullcontext()
        with gate:
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    timeout=(self.timeouts.connect, self.timeouts.read),
                    allow_redirects=False,
                    **kwargs,
                )
            except requests.RequestException as exc:
                error = self._classify(exc, route, unsafe)
                log.warning("%s failed: %s", route, error)
                raise error from None
        log.debug("%s -> %s in %.0f ms", route, response.status_code, (time.monotonic() - started) * 1000)
        return response

    def _classify(self, exc: requests.RequestException, route: str, unsafe: bool) -> ConnectorError:
        kind = type(exc).__name__
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return FatalError(f"ecospectrans {route}: the endpoint address is invalid ({kind})")
        if isinstance(exc, requests.ConnectTimeout) or (isinstance(exc, requests.ConnectionError) and _refused(exc)):
            return RetriableError(f"ecospectrans {route}: cannot connect ({kind})")
        if isinstance(exc, requests.ReadTimeout):
            what = f"no answer within {self.timeouts.read:g} s"
        elif isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
            what = "the answer was cut short"
        elif isinstance(exc, requests.ConnectionError):
            what = "the connection dropped"
        else:
            what = "the request failed"
        if unsafe:
            return AmbiguousError(f"ecospectrans {route}: {what} after sending ({kind}); it may have taken effect")
        return RetriableError(f"ecospectrans {route}: {what} ({kind})")

    def json(self, response: requests.Response, route: str, *, unsafe: bool) -> Any:
        """The JSON body of a success answer; an unreadable one after an unsafe call is ambiguous."""
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            message = f"ecospectrans {route}: HTTP {response.status_code} with a body that is not JSON"
            if unsafe:
                raise AmbiguousError(message + "; it may have taken effect") from None
            raise RetriableError(message) from None

    def failure(self, response: requests.Response, route: str, *, unsafe: bool, item: bool) -> ConnectorError:
        """The error for an answer the caller did not expect.

        ``item``: the call is about one item (a ticket, a comment), so a refusal dead-letters that item
        (PermanentError); otherwise (feeds, lookups) a refusal means the query or the configuration is
        wrong and the step stops (FatalError).
        """
        status = response.status_code
        summary = problem_summary(response, self.secrets)
        message = f"ecospectrans {route}: HTTP {status}: {summary}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            return RetriableError(message, retry_after=retry_after)
        if status >= 500:
            if unsafe:
                return AmbiguousError(message + "; it may have taken effect")
            return RetriableError(message, retry_after=retry_after)
        if status in (401, 403):
            return FatalError(message)
        if 400 <= status < 500 and item:
            return PermanentError(message, detail=summary)
        return FatalError(message)

    def close(self) -> None:
        self.session.close()
