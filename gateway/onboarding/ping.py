"""`gateway connector ping`: can the gateway reach the utility and do its credentials work?

Step by step, so the answer is one sentence a person can act on: the name resolves (DNS), a TCP
connection opens (connect), TLS completes with the certificate checked (https only), then the
connector's cheapest authenticated call answers: its ``ping()`` when it has one, else a lookup of a
reference no request has (every connector has ``find_jobs``, and it changes nothing). The secrets of
the Connection are redacted from every sentence.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.connections import ConnectionConfig
from gateway.errors import ConfigError, ConnectorError, FatalError
from gateway.registry import Manifest
from gateway.toolkit.http import connection_timeouts
from gateway.toolkit.redact import redact

PROBE_REFERENCE = "1520-PING-000000"  # no request has this number: the lookup finds nothing
CREDENTIAL_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class PingResult:
    ok: bool
    stage: str  # config, dns, connect, tls, credentials, http, reply, ok
    sentence: str


def ping(manifest: Manifest, connection: ConnectionConfig) -> PingResult:
    secrets = connection.secrets()
    result = _ping(manifest, connection)
    return PingResult(result.ok, result.stage, redact(result.sentence, secrets))


def _ping(manifest: Manifest, connection: ConnectionConfig) -> PingResult:
    parts = urlsplit(connection.base_url)
    host, scheme = parts.hostname, parts.scheme
    if not host or scheme not in ("http", "https"):
        return PingResult(False, "config", f"{manifest.name}: connection {connection.conn_id} has no usable "
                                           f"base URL (schema must be http or https, host a name)")
    port = parts.port or (443 if scheme == "https" else 80)
    timeout = connection_timeouts(connection, manifest.timeouts).connect
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return PingResult(False, "dns", f"{manifest.name}: the host name {host} does not resolve (DNS: "
                                        f"{exc.strerror}); check the connection's host")
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        return PingResult(False, "connect", f"{manifest.name}: cannot connect to {host}:{port} (no answer within "
                                            f"{timeout:g} s); check the port, a firewall or the utility's VPN")
    except OSError as exc:
        return PingResult(False, "connect", f"{manifest.name}: cannot connect to {host}:{port} "
                                            f"({exc.strerror or exc}); check the port and that the service runs")
    with sock:
        if scheme == "https" and (problem := _tls_problem(sock, host, connection)):
            return PingResult(False, "tls", f"{manifest.name}: TLS with {host}:{port} failed ({problem}); "
                                            "check the certificate or the connection's extra verify")
    return _authenticated_call(manifest, connection)


def _tls_problem(sock: socket.socket, host: str, connection: ConnectionConfig) -> str | None:
    verify = connection.extra.get("verify", True)
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) and "/" in verify else None)
    if str(verify).lower() in ("false", "0", "no", "off"):
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with context.wrap_socket(sock, server_hostname=host):
            return None
    except (ssl.SSLError, OSError) as exc:
        return getattr(exc, "reason", None) or str(exc)[:120]


def _authenticated_call(manifest: Manifest, connection: ConnectionConfig) -> PingResult:
    try:
        connector = manifest.connector_class(connection, timeouts=manifest.timeouts)
    except (ConfigError, FatalError) as exc:
        return PingResult(False, "config", f"{manifest.name}: the connector refuses the connection: {exc}")
    call = "ping" if callable(getattr(connector, "ping", None)) else "find_jobs"
    try:
        connector.ping() if call == "ping" else connector.find_jobs(PROBE_REFERENCE)  # type: ignore[attr-defined]
    except ConnectorError as exc:
        status = _status_of(str(exc))
        if status in CREDENTIAL_STATUSES or (status is None and _about_credentials(str(exc))):
            return PingResult(False, "credentials", f"{manifest.name}: {connection.base_url} is reachable but "
                                                    f"refused the credentials of connection {connection.conn_id}"
                                                    f"{f' (HTTP {status})' if status else ''}; check its login "
                                                    "and password (or API key)")
        if status is not None:
            return PingResult(False, "http", f"{manifest.name}: {connection.base_url} answered HTTP {status} to "
                                             f"an authenticated call: {exc}")
        return PingResult(False, "reply", f"{manifest.name}: the authenticated call failed: {exc}")
    finally:
        connector.close()
    return PingResult(True, "ok", f"{manifest.name}: {connection.base_url} is reachable and accepts the "
                                  f"credentials of connection {connection.conn_id} ({call})")


def _status_of(message: str) -> int | None:
    match = re.search(r"\bHTTP (\d{3})\b", message)
    return int(match.group(1)) if match else None


def _about_credentials(message: str) -> bool:
    return bool(re.search(r"(?i)credential|unauthori[sz]ed|invalid_client|api key refused|password", message))
