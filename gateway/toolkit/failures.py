"""Error classification as data: each connector lists rules (status codes, transport failure kinds,
SOAP fault sides, utility error codes -> an outcome) and one classifier reads them.

Outcomes: ``retriable`` (certainly not applied), ``permanent`` (this item is refused), ``fatal`` (the
step cannot go on), ``ambiguous`` (may have been applied) and ``uncertain``: ambiguous for a write,
retriable for a read (a read is safe to repeat). The first rule that matches wins.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import requests
from urllib3.exceptions import ConnectTimeoutError

from gateway.errors import AmbiguousError, ConnectorError, FatalError, PermanentError, RetriableError

Outcome = Literal["retriable", "permanent", "fatal", "ambiguous", "uncertain"]


@dataclass(frozen=True)
class Rule:
    """``outcome`` when every criterion given matches; ``why`` is what the error message says."""

    outcome: Outcome
    why: str
    status: Collection[int] | None = None
    kind: Collection[str] | None = None  # transport failure kind or SOAP fault side (see failure_kind)
    code: Collection[str] | None = None  # the utility's own error code (body field, SOAP FaultDetail)
    write: bool | None = None  # only for writes (True) or only for reads (False)

    def matches(self, status: int | None, kind: str | None, code: str | None, write: bool) -> bool:
        return (
            (self.status is None or status in self.status)
            and (self.kind is None or kind in self.kind)
            and (self.code is None or code in self.code)
            and (self.write is None or self.write == write)
        )


SERVER_ERRORS = range(500, 600)
REDIRECTS = range(300, 400)
CLIENT_ERRORS = range(400, 500)

# How a request can fail before any status: the same for every HTTP utility, REST or SOAP.
TRANSPORT_RULES: tuple[Rule, ...] = (
    Rule("fatal", "endpoint unusable; check the connection", kind={"bad_endpoint"}),
    Rule("retriable", "cannot connect", kind={"not_sent"}),
    Rule("uncertain", "no reply within the read timeout", kind={"read_timeout"}),
    Rule("uncertain", "connection dropped", kind={"dropped"}),
    Rule("uncertain", "reply cut short", kind={"cut_short"}),
    Rule("uncertain", "unreadable or refused reply", kind={"unreadable"}),
    Rule("uncertain", "request failed", kind={"failed"}),
)


def failure_kind(exc: BaseException) -> str:
    """The transport failure kind of a requests exception (the ``kind`` the rules match)."""
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
                  | requests.exceptions.InvalidSchema | requests.exceptions.SSLError):
        return "bad_endpoint"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "not_sent"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "read_timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "cut_short"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "not_sent" if _never_connected(exc) else "dropped"
    return "failed"


def _never_connected(exc: BaseException) -> bool:
    """Refused, DNS failure, unreachable: urllib3 says so with a ConnectTimeoutError (NewConnectionError
    is one), possibly wrapped in a MaxRetryError."""
    seen: list[object] = [exc, *exc.args]
    seen += [getattr(arg, "reason", None) for arg in exc.args]
    return any(isinstance(item, ConnectTimeoutError | ConnectionRefusedError) for item in seen)


def classify(
    rules: Sequence[Rule],
    where: str,
    *,
    write: bool,
    status: int | None = None,
    kind: str | None = None,
    code: str | None = None,
    text: str | None = None,
    detail: str | None = None,
    retry_after: float | None = None,
) -> ConnectorError:
    """The gateway error the first matching rule names (a permanent one when none matches)."""
    rule = next((r for r in rules if r.matches(status, kind, code, write)), None)
    outcome: Outcome = rule.outcome if rule else "permanent"
    why = rule.why if rule else "unexpected reply"
    label = f"HTTP {status}: " if status is not None else ""
    message = f"{where}: {label}{why}" + (f" ({code})" if code else "") + (f": {text}" if text else "")
    if outcome == "uncertain":
        outcome = "ambiguous" if write else "retriable"
    if outcome == "ambiguous":
        return AmbiguousError(message + "; it may have been applied", detail=detail or kind)
    if outcome == "retriable":
        return RetriableError(message, retry_after=retry_after, detail=detail or kind)
    if outcome == "fatal":
        return FatalError(message, detail=detail or kind)
    return PermanentError(message, detail=detail or kind)
