"""Letters of the department: always written to the reports folder (outbox/*.eml, the record of what
was sent to whom), and sent through SMTP when an Airflow SMTP connection is configured.

The connection is Airflow's ``smtp`` type, found by id (``GATEWAY_SMTP_CONN_ID``, default
``smtp_default``) as an Airflow Connection inside a task or as ``AIRFLOW_CONN_<ID>`` anywhere. Its
extras follow the SMTP provider: ``disable_ssl`` (default false: SMTP over TLS), ``disable_tls``
(default false: STARTTLS when not over TLS), ``from_email``, ``timeout``. The password never reaches
a log or an error message.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.connections import parse_airflow_conn
from gateway.errors import ConfigError, GatewayError

log = logging.getLogger(__name__)
SMTP_CONN_ENV = "GATEWAY_SMTP_CONN_ID"
DEFAULT_SMTP_CONN_ID = "smtp_default"


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in {"true", "1", "yes"}


@dataclass(frozen=True)
class SmtpSettings:
    conn_id: str
    host: str
    port: int
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    use_ssl: bool = True
    starttls: bool = True
    from_email: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_fields(cls, conn_id: str, *, host: str | None, port: int | None, login: str | None,
                    password: str | None, extra: dict[str, Any] | None) -> SmtpSettings:
        extra = extra or {}
        if not host:
            raise ConfigError(f"SMTP connection {conn_id!r} has no host")
        use_ssl = not _flag(extra.get("disable_ssl", False))
        return cls(conn_id, host, int(port or (465 if use_ssl else 25)), login or None, password or None, use_ssl,
                   not use_ssl and not _flag(extra.get("disable_tls", False)), extra.get("from_email") or None,
                   float(extra.get("timeout", 30)))


def smtp_conn_id() -> str:
    return os.environ.get(SMTP_CONN_ENV) or DEFAULT_SMTP_CONN_ID


def smtp_from_environment(conn_id: str | None = None) -> SmtpSettings | None:
    """The SMTP settings from ``AIRFLOW_CONN_<ID>``; None when no such variable is set (folder only)."""
    conn_id = conn_id or smtp_conn_id()
    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not value:
        return None
    parsed = parse_airflow_conn(conn_id, value)
    where = urlsplit(parsed.base_url)
    return SmtpSettings.from_fields(conn_id, host=where.hostname, port=where.port, login=parsed.login,
                                    password=parsed.password, extra=parsed.extra)


@dataclass(frozen=True)
class Letter:
    """One letter: to whom, about what, and the files it carries."""

    key: str  # a file-name-safe name, e.g. notice-vodokanal
    to: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[Path, ...] = ()


class DeliveryError(GatewayError):
    pass


def to_message(letter: Letter, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(letter.to), letter.subject
    message["Date"], message["Message-ID"] = formatdate(localtime=False), make_msgid(domain="kc1520.local")
    message.set_content(letter.body)
    for path in letter.attachments:
        kind, _ = mimetypes.guess_type(path.name)
        maintype, subtype = (kind or "application/octet-stream").split("/", 1)
        # as bytes: the file arrives exactly as written (UTF-8, the CSV's BOM for spreadsheets)
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name,
                               params={"charset": "utf-8"} if maintype == "text" else {})
    return message


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


def write_outbox(letters: list[Letter], sender: str, outbox: Path) -> list[Path]:
    outbox.mkdir(parents=True, exist_ok=True)
    written = []
    for letter in letters:
        path = outbox / f"{_safe(letter.key)}.eml"
        path.write_bytes(bytes(to_message(letter, sender)))
        written.append(path)
    return written


def send(letters: list[Letter], sender: str, settings: SmtpSettings) -> int:
    """Send every letter with an addressee over one SMTP session; returns how many were sent."""
    wanted = [letter for letter in letters if letter.to]
    if not wanted:
        return 0
    sender = settings.from_email or sender
    try:
        if settings.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.starttls:
                client.starttls(context=ssl.create_default_context())
            if settings.login:
                client.login(settings.login, settings.password or "")
            for letter in wanted:
                client.send_message(to_message(letter, sender))
    except (OSError, smtplib.SMTPException) as exc:
        text = str(exc).replace(settings.password, "***") if settings.password else str(exc)
        raise DeliveryError(f"SMTP {settings.conn_id} ({settings.host}:{settings.port}): "
                            f"{type(exc).__name__}: {text}") from None
    log.info("sent %d letter(s) through SMTP connection %s", len(wanted), settings.conn_id)
    return len(wanted)
