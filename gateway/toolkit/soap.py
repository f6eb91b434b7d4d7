"""SOAP through zeep, for any utility with a WSDL: a client built from the WSDL file the utility handed
over (never fetched), a quiet transport, the WS-Security token, an envelope log that never shows a
password or a phone number, replies screened item by item, and every failure described as the
(kind, status, code) the connector's rules classify.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from zeep import Client, Plugin, Settings
from zeep import exceptions as zeep_errors
from zeep.exceptions import XMLParseError
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.utils import get_media_type
from zeep.wsse.username import UsernameToken

from gateway.connections import ConnectionConfig
from gateway.connector import Timeouts
from gateway.errors import FatalError
from gateway.toolkit.failures import TRANSPORT_RULES, Rule, classify, failure_kind
from gateway.toolkit.http import flag, parse_retry_after, secure_base_url
from gateway.toolkit.redact import redact

XML_MEDIA_TYPES = frozenset({"text/xml", "application/soap+xml", "application/xml"})
# Elements whose text never reaches a log.
SENSITIVE_ELEMENTS = frozenset({"Password", "Nonce", "Phone"})
REDACTED = "***"


def redact_envelope(envelope: etree._Element, secrets: Iterable[str | None] = ()) -> str:
    copy = deepcopy(envelope)
    for element in copy.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname in SENSITIVE_ELEMENTS and element.text:
            element.text = REDACTED
    return redact(etree.tostring(copy, encoding="unicode", pretty_print=True), secrets)


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


_XSD_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def _is_datetime(text: str) -> bool:
    if not _XSD_DATETIME.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# Typed values zeep reads leniently: an unreadable one becomes None (an EndsAt would then read as
# "until the works are finished") or, for a boolean, False (a cancelled outage would read as active).
# Checked on the text as received; an empty or nil element is left to the reader.
VALUE_CHECKS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "ChangedAt": ("a date-time", _is_datetime),
    "StartsAt": ("a date-time", _is_datetime),
    "EndsAt": ("a date-time", _is_datetime),
    "Cancelled": ("true or false", lambda text: text in ("true", "false", "1", "0")),
    "Revision": ("a whole number of at most 18 digits", lambda text: re.fullmatch(r"[+-]?\d{1,18}", text) is not None),
}


@dataclass(frozen=True)
class ScreenedItem:
    """An item taken out of a list reply because it does not fit the schema."""

    position: int  # among the items of the reply, from 0
    error: str  # what does not fit, naming the element
    fields: dict[str, str | None]  # the item's child elements by local name, as text (for its key)
    xml: str  # the item as received

    def text(self, name: str) -> str:
        return (self.fields.get(name) or "").strip()

    def xml_key(self) -> str:
        """A key for an item that names no id: stable while the service sends the same XML."""
        return "xml:" + hashlib.sha256(self.xml.encode()).hexdigest()[:16]


class ItemScreenPlugin(Plugin):
    """Checks every reply's shape, and takes the items of a list reply that do not fit the schema out
    of it before zeep reads it.

    Shape: the Body must hold a Fault or exactly the operation's response element. zeep reads any
    other element (another operation's response, a proxy's own XML) as an empty answer: "no changes"
    would move the feed's watermark past changes never read, and "no complaints" after a lost reply
    would create a second complaint. Such a reply is refused as unreadable (XMLParseError).

    Items: zeep reads a reply strictly, as it should (a reply that is cut short or is not this
    service's must fail whole). But one schema-invalid item in a list would then make the whole list
    unreadable, on every pull, and with it every other change or outage of the window: the feed would
    stop. So each item is first read alone with the same schema; the ones that fail are removed and
    kept here (``take``) for the connector to report as rejected items, and the rest are read as usual.
    Runs after zeep's own parsing, so DTDs, entities and malformed XML are refused before this.
    """

    def __init__(self, lists: dict[str, str], secrets: Iterable[str | None] = ()) -> None:
        self._lists = lists  # local name of a list reply -> local name of its items
        self._secrets = [s for s in secrets if s]
        self._state = threading.local()

    def begin(self) -> None:
        self._state.screened = []

    def take(self) -> list[ScreenedItem]:
        """The items removed from the last reply on this thread."""
        screened = getattr(self._state, "screened", [])
        self._state.screened = []
        return screened

    def ingress(self, envelope, http_headers, operation):  # type: ignore[no-untyped-def]
        body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        message = getattr(operation, "output", None)
        element, schema = getattr(message, "body", None), getattr(getattr(message, "wsdl", None), "types", None)
        if body is None or element is None or schema is None:
            return envelope, http_headers
        _check_shape(body, element.qname, operation.name)
        screened: list[ScreenedItem] = []
        for reply in body:
            if not isinstance(reply.tag, str) or etree.QName(reply).localname not in self._lists:
                continue
            position = 0
            for item in list(reply):
                if not isinstance(item.tag, str):  # comments, processing instructions
                    continue
                error = self._misfit(element, schema, reply, item)
                if error is not None:
                    fields = {etree.QName(c).localname: c.text for c in item if isinstance(c.tag, str)}
                    text = etree.tostring(item, encoding="unicode", with_tail=False)
                    screened.append(ScreenedItem(position, error, fields, text))
                    _remove_keeping_tail(item)
                position += 1
        self._state.screened = screened
        return envelope, http_headers

    def _misfit(self, element: Any, schema: Any, reply: etree._Element, item: etree._Element) -> str | None:
        for child in item:  # first, so that zeep does not log a traceback for each such value
            if not isinstance(child.tag, str) or child.get(_XSI_NIL) in ("true", "1"):
                continue
            name = etree.QName(child).localname
            if name in VALUE_CHECKS and child.text and child.text.strip():
                what, check = VALUE_CHECKS[name]
                if not check(child.text.strip()):
                    return f"{name}: not {what}"
        alone = etree.Element(reply.tag, nsmap=reply.nsmap)
        alone.append(deepcopy(item))
        try:
            element.parse(alone, schema)
        except Exception as exc:  # whatever zeep refuses, the item does not fit
            text = re.sub(r"\{[^}]*\}", "", str(exc)) or type(exc).__name__
            return redact(text, self._secrets)[:300]
        # zeep lets a required element missing at the end of a sequence pass (a missing Cancelled would
        # read as "not cancelled"): every element the schema requires must be there.
        present = {etree.QName(c).localname for c in item if isinstance(c.tag, str)}
        for name in _required_children(element, etree.QName(item).localname):
            if name not in present:
                return f"{name}: missing"
        return None


def _required_children(element: Any, item_name: str) -> list[str]:
    """Local names of the elements an item of a list reply must have, from the schema."""
    for name, child in getattr(element.type, "elements", ()):
        if name == item_name:
            return [n for n, grandchild in getattr(child.type, "elements", ()) if grandchild.min_occurs >= 1]
    return []


def _check_shape(body: etree._Element, expected: etree.QName, operation: str) -> None:
    children = [c for c in body if isinstance(c.tag, str)]
    if any(etree.QName(c).localname == "Fault" for c in children):
        return  # zeep turns it into a zeep.exceptions.Fault
    found = [etree.QName(c).localname for c in children]
    if len(children) != 1 or etree.QName(children[0]) != etree.QName(expected):
        stray = (body.text or "").strip()
        raise XMLParseError(
            f"{operation}: the reply's Body holds {found or ('text' if stray else 'nothing')}, "
            f"not {etree.QName(expected).localname}"
        )


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if element.tail and element.tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def safe_settings() -> Settings:
    """No DTDs, no entities, no fetching of anything the WSDL or a reply points at."""
    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False)


def build_screened_service(
    *,
    wsdl: Path,
    binding: str,
    address: str,
    username: str,
    password: str,
    use_digest: bool,
    connect_timeout: float,
    read_timeout: float,
    logger: logging.Logger,
    screened_lists: dict[str, str],
) -> tuple[Any, QuietTransport, ItemScreenPlugin]:
    """A zeep service proxy bound to ``address`` from the ``wsdl`` file, its transport, and the plugin
    holding the items screened out of the last list reply (``screened_lists``: reply -> item name)."""
    session = requests.Session()
    timeouts = (connect_timeout, read_timeout)
    transport = QuietTransport(session=session, timeout=timeouts, operation_timeout=timeouts)
    token = UsernameToken(username, password, use_digest=use_digest)
    screen = ItemScreenPlugin(screened_lists, [password])
    client = Client(
        str(wsdl),
        transport=transport,
        settings=safe_settings(),
        # ingress runs in this order: the envelope is logged as received, then screened
        plugins=[UsernameTokenPlugin(token), EnvelopeLogPlugin(logger, [password]), screen],
    )
    return client.create_service(binding, address), transport, screen


_UNREADABLE = (
    zeep_errors.XMLSyntaxError,
    zeep_errors.XMLParseError,
    zeep_errors.DTDForbidden,
    zeep_errors.EntitiesForbidden,
    zeep_errors.ExternalReferenceForbidden,
    zeep_errors.UnexpectedElementError,
    zeep_errors.TransportError,
    etree.LxmlError,
)


@dataclass(frozen=True)
class SoapFailure:
    """What went wrong, as the rules match it: ``kind`` is a transport kind (see failures.failure_kind),
    ``soap:Client`` / ``soap:Server`` / ``soap:other`` / ``soap:none`` for a Fault, ``not_xml`` for a
    page that is not SOAP, ``unreadable`` or ``unbuildable`` (zeep refused to build the request)."""

    kind: str
    status: int | None = None
    code: str | None = None  # FaultDetail/Code
    text: str | None = None  # the fault string (redact before use)
    retry_after: str | None = None


def describe(exc: BaseException, *, sent: bool) -> SoapFailure:
    if isinstance(exc, zeep_errors.Fault):
        side = fault_side(exc.code)
        kind = "soap:none" if side is None else f"soap:{side}" if side in ("Client", "Server") else "soap:other"
        return SoapFailure(kind, code=fault_detail_code(exc.detail), text=exc.message or "")
    if isinstance(exc, ReplyNotXml):
        return SoapFailure("not_xml", status=exc.status, text=exc.media_type, retry_after=exc.retry_after)
    if isinstance(exc, requests.exceptions.RequestException):
        kind = failure_kind(exc)
        return SoapFailure(kind if sent or kind != "failed" else "not_sent")
    if isinstance(exc, zeep_errors.TransportError) and exc.status_code in (401, 403, 404, 405):
        return SoapFailure("http", status=exc.status_code)
    if isinstance(exc, _UNREADABLE):
        return SoapFailure("unreadable", text=type(exc).__name__)
    if not sent:
        return SoapFailure("unbuildable", text=str(exc))
    return SoapFailure("unreadable", text=type(exc).__name__)


def fault_side(code: str | None) -> str | None:
    """ "soap:Client" / "SOAP-ENV:Server.Database" -> "Client" / "Server"."""
    if not code:
        return None
    return code.rsplit(":", 1)[-1].split(".", 1)[0] or None


def fault_detail_code(detail: object) -> str | None:
    """The FaultDetail/Code text, wherever the service put it under <detail>."""
    if not isinstance(detail, etree._Element):
        return None
    for element in detail.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname == "Code" and element.text:
            return element.text.strip()
    return None


# What any SOAP service's failures mean, whatever its fault codes: a connector puts its own codes first.
SOAP_RULES: tuple[Rule, ...] = (
    Rule("permanent", "refused", kind={"soap:Client"}),
    Rule("uncertain", "server fault", kind={"soap:Server"}),
    Rule("uncertain", "a non-SOAP error reply", kind={"soap:none"}),
    Rule("fatal", "protocol fault (our envelope does not fit their stack)", kind={"soap:other"}),
    Rule("fatal", "refused by the endpoint; check the connection", status={401, 403, 404, 405, 415}),
    Rule("retriable", "front proxy throttles", status={429}),
    Rule("permanent", "request refused by the front proxy", status={400, 413, 414}),
    Rule("uncertain", "a non-SOAP page instead of SOAP", kind={"not_xml"}),
    *TRANSPORT_RULES,
    Rule("permanent", "request could not be built", kind={"unbuildable"}),
)


class SoapClient:
    """One SOAP service: the proxy built on first use (DAG parsing stays cheap), every failure classified
    by ``rules`` (the service's fault codes, then SOAP_RULES), the items screened out of the last reply."""

    def __init__(self, name: str, connection: ConnectionConfig, timeouts: Timeouts, *, wsdl: Path, binding: str,
                 rules: Iterable[Rule], screened_lists: dict[str, str], logger: logging.Logger) -> None:
        self.name, self.connection, self.timeouts = name, connection, timeouts
        self.wsdl, self.binding, self.rules = wsdl, binding, (*rules, *SOAP_RULES)
        self.screened_lists, self.log = screened_lists, logger
        self._service: Any = None

    def call(self, operation: str, *, write: bool, **arguments: Any) -> Any:
        if self._service is None:
            if not self.connection.login or not self.connection.password:
                raise FatalError(f"{self.name}: connection {self.connection.conn_id!r} needs a login and a password")
            self._service, self._transport, self._screen = build_screened_service(
                wsdl=self.wsdl, binding=self.binding, address=secure_base_url(self.connection),
                username=self.connection.login, password=self.connection.password,
                use_digest=flag(self.connection.extra, "password_digest"), connect_timeout=self.timeouts.connect,
                read_timeout=self.timeouts.read, logger=self.log, screened_lists=self.screened_lists)
        self._transport.begin()
        self._screen.begin()
        try:
            return getattr(self._service, operation)(**arguments)
        except Exception as exc:
            failure = describe(exc, sent=self._transport.sent)
            soap = failure.kind.startswith("soap:")
            detail = f"{failure.kind} {failure.code or 'no code'}" if soap else type(exc).__name__
            error = classify(self.rules, f"{self.name} {operation}", write=write, status=failure.status,
                             kind=failure.kind, code=failure.code, detail=detail,
                             text=redact(failure.text, self.connection.secrets())[:300] if failure.text else None,
                             retry_after=parse_retry_after(failure.retry_after))
            self.log.warning("%s (%s)", error, error.detail)
            raise error from None

    def screened(self) -> list[ScreenedItem]:
        """The items taken out of the last list reply as not fitting the schema."""
        return self._screen.take() if self._service is not None else []

    def close(self) -> None:
        if self._service is not None:
            self._transport.session.close()
        self._service = None


def field(item: Any, name: str) -> Any:
    """A child of a zeep reply item (None when absent)."""
    try:
        return item[name]
    except (KeyError, TypeError, AttributeError):
        return getattr(item, name, None)


def plain(item: Any) -> Any:
    """A zeep reply item as plain JSON-ready data, for dead letters."""
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value.isoformat() if isinstance(value, datetime) else value
    return walk(serialize_object(item, dict))
