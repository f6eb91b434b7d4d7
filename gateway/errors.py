"""The error classes every connector raises, so the sync engine can decide what to do without
knowing the protocol (the Airbyte CDK idea of retriable vs fatal, plus "ambiguous").
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of everything the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A broken manifest, mapping or data file; the message names the file and the entry."""


class ConnectorError(GatewayError):
    """Raised by a connector call. Subclasses say whether the call took effect."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class RetriableError(ConnectorError):
    """The call certainly did not take effect (refused, 5xx before commit, 429, lock); repeat later."""

    def __init__(self, message: str, *, retry_after: float | None = None, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """The utility refused this item (validation, unknown type); repeating it cannot help."""


class AmbiguousError(ConnectorError):
    """The call may have taken effect (read timeout, dropped connection, unreadable reply).

    A create that ends like this must be resolved by looking the job up before any second create.
    """


class FatalError(ConnectorError):
    """The whole step cannot go on (bad credentials, endpoint misconfigured). Items stay queued."""


def error_class_name(exc: BaseException) -> str:
    """A short stable label for logs, dead letters and sync-run counters."""
    for cls in (RetriableError, PermanentError, AmbiguousError, FatalError):
        if isinstance(exc, cls):
            return cls.__name__.removesuffix("Error").lower()
    return "unexpected"
