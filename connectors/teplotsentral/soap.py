"""The zeep plumbing: a client built from the repository's WSDL, a quiet transport, the WS-Security
token and an envelope log that never shows a password or a phone number.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from copy import deepcopy
from typing import Any

import requests
from lxml import etree
from zeep import Client, Plugin, Settings
from zeep.transports import Transport
from zeep.utils import get_media_type
from zeep.wsse.username import UsernameToken

from connectors.teplotsentral.contract import BINDING_NAME, WSDL_FILE

XML_MEDIA_TYPES = frozenset({"text/xml", "application/soap+xml", "application/xml"})
# Elements whose text never reaches a log.
SENSITIVE_ELEMENTS = frozenset({"Password", "Nonce", "Phone"})
# Ukrainian phone numbers as people write them: +380 67 123 45 67, 067-123-45-67, (056) 401-23-45,
# 0671234567, and the city's short form 401-23-45.
_PHONE_RE = re.compile(
    r"(?<![\d\w])(?:\+?3\s?8\s?)?(?:\(\s?0\s?\d{2}\s?\)|0\s?\d{2})[\s\-]?\d{3}[\s\-]?\d{2}[\s\-]?\d{2}(?!\d)"
    r"|(?<![\d\w\-])\d{3}-\d{2}-\d{2}(?![\d\-])"
)
REDACTED = "***"


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Text fit for a log or an exception message: secrets and phone numbers masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _PHONE_RE.sub("[phone]", text)


def redact_envelope(envelope: etree._Element, secrets: Iterable[str | None] = ()) -> str:
    copy = deepcopy(envelope)
    for element in copy.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname in SENSITIVE_ELEMENTS and element.text:
            element.text = REDACTED
    return redact_text(etree.tostring(copy, encoding="unicode", pretty_print=True), secrets)


class ReplyNotXml(Exception):
    """The reply was not SOAP at all (an HTML error page from the front proxy, say)."""

    def __init__(self, status: int, media_type: str, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status} {media_type or 'without a content type'}")
        self.status, self.media_type, self.retry_after = status, media_type, retry_after


class QuietTransport(Transport):
    """zeep's Transport, minus two habits: it logs whole envelopes (the password included) under
    "zeep.transports", and it hands any reply to the XML parser. This one logs nothing itself (the
    envelope plugin does, redacted), refuses non-XML replies before parsing, and notes whether the
    request left, so a failure can be told apart as "not sent" or "may have taken effect"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state = threading.local()

    def begin(self) -> None:
        self._state.sent = False

    @property
    def sent(self) -> bool:
        return getattr(self._state, "sent", False)

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        self._state.sent = True  # from here on the server may have received it
        response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)
        media_type = get_media_type(response.headers.get("Content-Type", "text/xml"))
        if media_type not in XML_MEDIA_TYPES:
            raise ReplyNotXml(response.status_code, media_type, response.headers.get("Retry-After"))
        return response


class UsernameTokenPlugin(Plugin):
    """Adds the WS-Security UsernameToken as the first egress step, so the envelope log that follows
    sees (and masks) exactly what is sent; zeep applies its own ``wsse`` only after all plugins."""

    def __init__(self, token: UsernameToken) -> None:
        self._token = token

    def egress(self, envelope, http_headers, operation, binding_options):  # type: ignore[no-untyped-def]
        return self._token.apply(envelope, http_headers)


class EnvelopeLogPlugin(Plugin):
    """Logs requests and replies at DEBUG with passwords, nonces and phone numbers masked."""

    def __init__(self, logger: logging.Logger, secrets: Iterable[str | None]) -> None:
        self._logger = logger
        self._secrets = [s for s in secrets if s]

    def egress(self, envelope, http_headers, operation, binding_options):  # type: ignore[no-untyped-def]
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("SOAP request %s:\n%s", operation.name, redact_envelope(envelope, self._secrets))
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):  # type: ignore[no-untyped-def]
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("SOAP reply %s:\n%s", operation.name, redact_envelope(envelope, self._secrets))
        return envelope, http_headers


def safe_settings() -> Settings:
    """No DTDs, no entities, no fetching of anything the WSDL or a reply points at."""
    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False)


def build_service(
    *,
    address: str,
    username: str,
    password: str,
    use_digest: bool,
    connect_timeout: float,
    read_timeout: float,
    logger: logging.Logger,
) -> tuple[Any, QuietTransport]:
    """A zeep service proxy bound to ``address``, from the WSDL file in the repository (never fetched)."""
    session = requests.Session()
    timeouts = (connect_timeout, read_timeout)
    transport = QuietTransport(session=session, timeout=timeouts, operation_timeout=timeouts)
    token = UsernameToken(username, password, use_digest=use_digest)
    client = Client(
        str(WSDL_FILE),
        transport=transport,
        settings=safe_settings(),
        plugins=[UsernameTokenPlugin(token), EnvelopeLogPlugin(logger, [password])],
    )
    return client.create_service(BINDING_NAME, address), transport
