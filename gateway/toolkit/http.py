"""What every REST connector needs from HTTP and should not write again: a session built from the
Connection (the https rule, both timeouts, extras as Airflow's HTTP provider reads them), one send
that turns transport failures into gateway errors through the connector's rules, Retry-After and
JSON replies read once.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from gateway.connections import ConnectionConfig
from gateway.connector import Timeouts
from gateway.errors import ConnectorError, FatalError, RetriableError
from gateway.toolkit.failures import TRANSPORT_RULES, Rule, classify, failure_kind
from gateway.toolkit.redact import redact

USER_AGENT = "kr-contact-gateway/0.1 (Kryvyi Rih contact centre 1520)"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header in either form (RFC 9110 10.2.3): delta-seconds or
    an HTTP date (a date in the past means now). None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def flag(extra: dict[str, Any], name: str) -> bool:
    return str(extra.get(name, "")).strip().lower() in TRUE_WORDS


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def secure_base_url(connection: ConnectionConfig) -> str:
    """The Connection's base URL, refused when credentials would travel in clear text: plain http is
    allowed to loopback only, unless the Connection's extra says ``allow_plain_http: true``."""
    parts = urlsplit(connection.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FatalError(f"connection {connection.conn_id}: {parts.scheme or 'no'} scheme; use http or https")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not flag(connection.extra, "allow_plain_http"):
        raise FatalError(
            f"connection {connection.conn_id}: plain http to {parts.hostname} would send credentials in clear "
            "text; set the Connection's schema to https (or extra allow_plain_http: true for a trusted network)"
        )
    return connection.base_url.rstrip("/")


def connection_timeouts(connection: ConnectionConfig, default: Timeouts) -> Timeouts:
    """Extra ``timeout`` (seconds, or [connect, read]) overrides the manifest's; both are always set."""
    raw = connection.extra.get("timeout")
    if raw is None:
        return default
    try:
        values = [float(v) for v in (raw if isinstance(raw, list | tuple) else [raw, raw])]
        connect, read = values
    except (TypeError, ValueError):
        raise FatalError(f"connection {connection.conn_id}: extra timeout {raw!r} is not seconds") from None
    return Timeouts(connect=connect, read=read)


def session_from(connection: ConnectionConfig, headers: dict[str, str] | None = None) -> requests.Session:
    """A session as Airflow's HTTP provider builds one: extra ``headers`` and ``verify`` applied."""
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    extra_headers = connection.extra.get("headers")
    if isinstance(extra_headers, dict):
        session.headers.update({str(k): str(v) for k, v in extra_headers.items()})
    session.headers.update(headers or {})
    if "verify" in connection.extra:
        verify = connection.extra["verify"]
        session.verify = verify if isinstance(verify, str) and verify.lower() not in TRUE_WORDS | {"false"} \
            else flag(connection.extra, "verify")
    return session


class HttpClient:
    """One utility's HTTP side: base URL (https rule), session, timeouts, rules, optional rate limiter."""

    def __init__(
        self,
        name: str,
        connection: ConnectionConfig,
        timeouts: Timeouts,
        rules: Sequence[Rule],
        *,
        headers: dict[str, str] | None = None,
        limiter: Any = None,
        secrets: Iterable[str | None] = (),
        prefix: str = "",
        label: str | None = None,
    ) -> None:
        self.name = name
        self.label = label or name  # what error messages start with
        self.log = logging.getLogger(f"gateway.connectors.{name}")  # the utility's logger, not the toolkit's
        self.base_url = secure_base_url(connection).removesuffix(prefix) + prefix  # with or without the prefix
        self.timeouts = connection_timeouts(connection, timeouts)
        self.rules = tuple(rules)
        self.limiter = limiter
        self.secrets = [s for s in (*connection.secrets(), *secrets) if s]
        self.session = session_from(connection, headers)

    def send(self, method: str, path: str, *, what: str, write: bool, **kwargs: Any) -> requests.Response:
        """One exchange; any status comes back, a transport failure is raised classified."""
        gate = self.limiter.slot() if self.limiter else nullcontext()
        with gate:
            try:
                response = self.session.request(
                    method, self.base_url + path, timeout=(self.timeouts.connect, self.timeouts.read),
                    allow_redirects=False, **kwargs,
                )
            except requests.RequestException as exc:
                error = classify(self.rules + TRANSPORT_RULES, f"{self.label} {what}", write=write,
                                 kind=failure_kind(exc), detail=type(exc).__name__)
                self.log.warning("%s", error)
                raise error from None
        self.log.debug("%s %s %s -> HTTP %d", self.name, method, path, response.status_code)
        return response

    def call(self, method: str, path: str, *, what: str, write: bool, ok: Iterable[int] = range(200, 300),
             **kwargs: Any) -> tuple[int, Any]:
        """(status, parsed JSON) of an expected reply; any other status raised classified."""
        response = self.send(method, path, what=what, write=write, **kwargs)
        if response.status_code not in ok:
            raise self.failure(response, what, write=write)
        return response.status_code, self.json(response, what, write=write)

    def failure(self, response: requests.Response, what: str, *, write: bool) -> ConnectorError:
        """The error for a status the caller did not expect, by the rules: the body's error code
        (``error``) is matched too, and what the body says names the fields (never its values)."""
        body = error_body(response)
        code = body.get("error") if isinstance(body.get("error"), str) else None
        summary = error_summary(body)
        failure = classify(
            self.rules, f"{self.label} {what}", write=write, status=response.status_code, code=code,
            text=redact(summary, self.secrets)[:300] if summary else None,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
        detail = body.get("detail")
        failure.detail = redact(str(detail), self.secrets)[:300] if detail else failure.detail
        return failure

    def json(self, response: requests.Response, what: str, *, write: bool) -> Any:
        """The JSON body of a success; an unreadable one is uncertain (ambiguous after a write)."""
        try:
            if response.content:
                return response.json()
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            pass
        raise classify(TRANSPORT_RULES, f"{self.label} {what}", write=write, kind="unreadable",
                       text=f"HTTP {response.status_code} body is not JSON")

    def close(self) -> None:
        self.session.close()


def error_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json() if response.content else {}
    except (ValueError, RecursionError):
        body = {}
    return body if isinstance(body, dict) else {}


def error_summary(body: dict[str, Any]) -> str | None:
    """What an error reply says, naming the fields: an ``errors`` list of {field, code}, RFC 7807
    ``invalid-params`` of {name, reason}, else its title; or the first owner of a reused key."""
    parts = []
    for entry in _entries(body, "errors"):
        parts.append(f"{entry.get('field', '?')} {entry.get('code') or 'invalid'}")
    for entry in _entries(body, "invalid-params") or _entries(body, "invalid_params"):
        parts.append(f"{entry['name']}: {entry['reason']}" if entry.get("reason") else str(entry.get("name", "?")))
    if not parts and isinstance(body.get("order_id"), str | int):
        parts = [f"first used for order {body['order_id']}"]
    if not parts:
        parts = [str(body[k]) for k in ("title", "error_description") if body.get(k)]
    return "; ".join(parts) or None


def _entries(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = body.get(key)
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def items_of(data: Any, key: str, where: str) -> list[Any]:
    """The list under ``key`` of a reply; a reply without one is worth asking again."""
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise RetriableError(f"{where}: reply has no {key} list")
    return items
