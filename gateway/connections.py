"""Connection settings for a utility, in the shape of an Airflow Connection.

Inside Airflow the DAG resolves the Connection with ``airflow.sdk.BaseHook`` and converts it here;
outside (the ``gateway`` command, tests) the same ``AIRFLOW_CONN_<ID>`` variables are read directly,
so one environment serves both. Secrets live only in these objects and never in their repr.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from gateway.errors import ConfigError


@dataclass(frozen=True)
class ConnectionConfig:
    conn_id: str
    base_url: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def secrets(self) -> list[str]:
        """Values that must never reach a log: the password and secret-looking extras."""
        found = [self.password] if self.password else []
        for key, value in self.extra.items():
            if isinstance(value, str) and any(w in key.lower() for w in ("secret", "key", "token", "pass")):
                found.append(value)
        return found


def _base_url(conn_type: str | None, host: str | None, port: int | None, schema: str | None) -> str:
    """The base URL the way Airflow's HTTP provider reads a Connection: ``schema`` is the scheme
    (http or https), ``host`` a host name or a whole URL (with a base path), ``port`` optional."""
    if not host:
        raise ConfigError("connection has no host")
    scheme = (schema or "").strip().lower().rstrip(":/") or None
    if scheme not in (None, "http", "https"):
        raise ConfigError(
            f"connection schema {schema!r}: the schema is the URL scheme (http or https), as in Airflow's "
            "HTTP provider; give a base path as part of the host (https://host/path)"
        )
    if "://" in host:
        parts = urlsplit(host)
        if scheme and parts.scheme != scheme:
            raise ConfigError(f"connection schema {scheme!r} contradicts the host's scheme {parts.scheme!r}")
        netloc = parts.netloc if not port or parts.port else f"{parts.netloc}:{port}"
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    scheme = scheme or ("https" if conn_type == "https" else "http")
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def from_airflow_fields(
    conn_id: str,
    *,
    conn_type: str | None,
    host: str | None,
    port: int | None,
    schema: str | None,
    login: str | None,
    password: str | None,
    extra: dict[str, Any] | None,
) -> ConnectionConfig:
    return ConnectionConfig(
        conn_id=conn_id,
        base_url=_base_url(conn_type, host, port, schema),
        login=login or None,
        password=password or None,
        extra=dict(extra or {}),
    )


def parse_airflow_conn(conn_id: str, value: str) -> ConnectionConfig:
    """Parse an AIRFLOW_CONN_* value: Airflow's JSON form or its URI form."""
    value = value.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"AIRFLOW_CONN_{conn_id.upper()}: not valid JSON ({exc.msg})") from None
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra)
        return from_airflow_fields(
            conn_id,
            conn_type=data.get("conn_type"),
            host=data.get("host"),
            port=data.get("port"),
            schema=data.get("schema"),
            login=data.get("login"),
            password=data.get("password"),
            extra=extra,
        )
    parts = urlsplit(value)
    conn_type = parts.scheme.replace("-", "_")
    extra = dict(parse_qsl(parts.query))
    if "__extra__" in extra:
        extra = json.loads(extra["__extra__"])
    return from_airflow_fields(
        conn_id,
        conn_type=conn_type,
        host=unquote(parts.hostname or ""),
        port=parts.port,
        schema=unquote(parts.path.lstrip("/")) or None,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        extra=extra,
    )


def from_environment(conn_id: str) -> ConnectionConfig:
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"connection {conn_id!r} is not configured: set {name} or an Airflow Connection")
    return parse_airflow_conn(conn_id, value)


def to_airflow_json(config: ConnectionConfig, conn_type: str = "http") -> str:
    """The AIRFLOW_CONN_* JSON for a config (the demo, tests and ``python -m simulators serve`` hand
    simulators to Airflow with it): the whole base URL as host, its scheme as schema."""
    return json.dumps(
        {
            "conn_type": conn_type,
            "host": config.base_url,
            "schema": urlsplit(config.base_url).scheme,
            "login": config.login,
            "password": config.password,
            "extra": config.extra,
        }
    )
