"""Every way a call to the Teplotsentral service can fail, as one of the gateway's error classes.

The rule that decides most of it: once a request may have reached the service, a failure of a write
(RegisterComplaint, AddComment) is ambiguous — the service has no idempotency, so only FindComplaints
can tell whether the complaint exists. The same failure of a read is simply worth repeating.
Messages name the operation and the kind of failure; they never carry a payload, and any text that
comes from the service is masked (it could echo a phone number).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from connectors.teplotsentral.soap import ReplyNotXml, redact_text
from lxml import etree
from urllib3.exceptions import ConnectTimeoutError
from zeep import exceptions as zeep_errors

from connectors.teplotsentral.contract import FAULT_AUTH, SERVER_FAULTS
from gateway.errors import AmbiguousError, ConnectorError, FatalError, PermanentError, RetriableError

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


def _not_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection itself could not be opened (refused, DNS, connect timeout)."""
    seen: list[object] = [exc, *exc.args]
    seen += [getattr(arg, "reason", None) for arg in exc.args]
    return any(isinstance(item, ConnectTimeoutError) for item in seen)


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


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def classify(exc: BaseException, operation: str, *, write: bool, sent: bool, secrets: list[str]) -> ConnectorError:
    """The gateway error for ``exc`` raised by ``operation``. ``sent``: the request had left."""
    where = f"teplotsentral {operation}"
    name = type(exc).__name__

    def maybe_done(what: str) -> ConnectorError:
        if write:
            return AmbiguousError(f"{where}: {what}; the call may have taken effect", detail=name)
        return RetriableError(f"{where}: {what}", detail=name)

    if isinstance(exc, zeep_errors.Fault):
        return _classify_fault(exc, where, write=write, secrets=secrets)
    if isinstance(exc, ReplyNotXml):
        if exc.status in (401, 403, 404, 405, 415):
            return FatalError(f"{where}: HTTP {exc.status} from the endpoint; check the connection", detail=name)
        if exc.status == 429:
            return RetriableError(f"{where}: HTTP 429 from the front proxy", retry_after=_retry_after(exc.retry_after))
        if exc.status in (400, 413, 414):
            return PermanentError(f"{where}: HTTP {exc.status} from the front proxy (request refused)", detail=name)
        return maybe_done(f"HTTP {exc.status} with a {exc.media_type or 'non-SOAP'} page instead of SOAP")
    if isinstance(
        exc,
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.SSLError,
        ),
    ):
        return FatalError(f"{where}: endpoint unusable ({name}); check the connection", detail=name)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return RetriableError(f"{where}: could not connect (timeout)", detail=name)
    if isinstance(exc, requests.exceptions.ConnectionError) and _not_sent(exc):
        return RetriableError(f"{where}: could not connect (refused or unreachable)", detail=name)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return maybe_done("no reply within the read timeout")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return maybe_done("connection dropped before the reply")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return maybe_done("reply cut off")
    if isinstance(exc, requests.exceptions.RequestException):
        return maybe_done(f"HTTP failure ({name})") if sent else RetriableError(f"{where}: {name}", detail=name)
    if isinstance(exc, zeep_errors.TransportError) and exc.status_code in (401, 403, 404, 405):
        return FatalError(f"{where}: HTTP {exc.status_code} from the endpoint; check the connection", detail=name)
    if isinstance(exc, _UNREADABLE):
        return maybe_done(f"unreadable or refused reply ({name})")
    if not sent:
        # zeep refused to build the envelope (a missing or wrongly typed field): this item cannot go.
        return PermanentError(
            f"{where}: request could not be built: {redact_text(str(exc), secrets)[:200]}", detail=name
        )
    return maybe_done(f"unexpected failure reading the reply ({name})")


def _classify_fault(exc: zeep_errors.Fault, where: str, *, write: bool, secrets: list[str]) -> ConnectorError:
    side = fault_side(exc.code)
    code = fault_detail_code(exc.detail)
    text = redact_text(exc.message or "", secrets)[:300]
    label = f"soap:{side or '?'} {code or 'no code'}"
    if side is None:
        # Not a SOAP fault at all: a non-200 reply without a Fault element.
        what = "a non-SOAP error reply"
        if write:
            return AmbiguousError(f"{where}: {what}; the call may have taken effect", detail=label)
        return RetriableError(f"{where}: {what}", detail=label)
    if side == "Client":
        if code == FAULT_AUTH:
            return FatalError(f"{where}: credentials refused ({label})", detail=label)
        return PermanentError(f"{where}: refused ({label}): {text}", detail=label)
    if side == "Server":
        if code in SERVER_FAULTS:
            return RetriableError(f"{where}: temporary failure ({label}): {text}", detail=label)
        if write:
            return AmbiguousError(f"{where}: server fault ({label}): {text}; may have taken effect", detail=label)
        return RetriableError(f"{where}: server fault ({label}): {text}", detail=label)
    # VersionMismatch, MustUnderstand: our envelope does not fit their stack.
    return FatalError(f"{where}: protocol fault ({label}): {text}", detail=label)
