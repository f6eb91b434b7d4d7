"""АТ «Криворізька теплоцентраль»: a SOAP 1.1 stand-in for the utility's legacy complaint service.

A real SOAP server on loopback (BaseSimulator's HTTP server + lxml): serves its own copy of the WSDL
(contracts/teplotsentral/), validates every request body and every reply body against its XSD (lxml;
a reply that does not fit is recorded in ``contract_violations``), checks the WS-Security
UsernameToken, and keeps its own complaints, change journal and outages.

Choices the contract left open, as such a system plausibly does them:
- Endpoint ``/ws/ComplaintService``. ``GET ?wsdl`` serves the repository's WSDL with soap:address set
  to this server and the schema import pointing at ``GET ?xsd=teplotsentral.xsd``.
- Checks, in order: Content-Type text/xml (else HTTP 415, plain text, as the servlet container does);
  well-formed XML without any DTD (entities are never resolved, nothing is fetched) -> VALIDATION;
  a SOAP 1.1 Envelope with one Body child -> VALIDATION; UsernameToken (PasswordText, or
  PasswordDigest = Base64(SHA-1(nonce + created + password))) -> AUTH; SOAPAction, when sent, must
  name the body's operation -> VALIDATION; the body against the XSD -> VALIDATION; then business
  rules -> VALIDATION or UNKNOWN_TYPE. Every fault is HTTP 500 with ``detail/FaultDetail/Code``.
- Business rules: ComplaintType must be in ``COMPLAINT_TYPES`` (UNKNOWN_TYPE); a blank Description
  or a RegisteredAt more than 10 minutes ahead of the service's clock is VALIDATION; AddComment to an
  unknown ComplaintId is VALIDATION (the contract has no NOT_FOUND code); a window with From after To
  or longer than 31 days is VALIDATION.
- RegisterComplaint is NOT idempotent: every call makes a new complaint (ids 240001, 240002, ...).
- Time: instants are kept in UTC; the wire carries Europe/Kyiv wall time without an offset, whole
  seconds. GetStatusChanges filters the wall time like SQL ``BETWEEN`` on a local ``datetime`` column:
  From <= ChangedAt <= To, both inclusive, ordered by wall time - so in the repeated autumn hour both
  03:30s match a window holding 03:30. RegisteredAt is read as the first (summer) instant if ambiguous.
- Late writes: each change is journalled after a seeded delay: half of them within 3 s, the other
  half uniformly up to 2 min late; until then GetStatusChanges does not return it. FindComplaints
  shows the current status at once (the complaint row is updated in the transaction; the journal is
  written by a batch job).
- Life: ``advance()`` moves every open complaint one step: 10 -> 20 (or 91 "not our network",
  p = 0.07), 20 -> 30 (or 90 "rejected", p = 0.07), 30 -> 40, 40 -> 50. 50, 90, 91 are final.
  The registration itself journals a change to 10.
- Outages: GetPlannedOutages returns every outage overlapping [From, To] in wall time (StartsAt <= To
  and EndsAt >= From or no EndsAt), cancelled ones included (Cancelled = true); each revision or
  cancellation raises Revision. Ids "TC-OUT-0001"...
- Faults: the base kinds work on the single endpoint (target them with ``method="POST"``);
  ``x-db-locked`` and ``x-internal`` answer soap:Server DB_LOCKED / INTERNAL before anything is
  committed; ``x-validation`` answers soap:Client VALIDATION, also before anything is committed (one
  of the utility's business rules refusing a request the schema accepts: permanent for the client);
  ``x-evil-xml`` (``variant="bomb"`` or ``"external"``) commits, then answers 200 with a
  billion-laughs or external-entity document, as a compromised or broken front end might;
  ``x-late-reply`` (param ``seconds``) handles the request at once (committed) and answers ``seconds``
  later: a read timeout after the service committed, when that is longer than the client's.
- The service's "now" comes from ``clock`` (aware UTC), injectable and settable (``set_clock``), so
  tests can walk across the DST switches of Europe/Kyiv; ``ManualClock`` is such a clock.
- FindComplaints' RegisteredAt echoes the RegisteredAt the sender gave (the service keeps no other).
- Replies go out with TCP_NODELAY (simulators.base), as production SOAP stacks do.
- Extra state API for tests: ``comments``, ``job_payload`` (fields as received), ``complaint_count``,
  ``change_log`` (ground truth incl. not-yet-visible changes), ``inject_raw_change``, ``reset``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import random
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from pathlib import Path
from time import sleep
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from lxml import etree

from gateway.connections import ConnectionConfig
from simulators.base import BaseSimulator, Fault, Request, Response

# The service's own copy of its contract (contracts/teplotsentral/): the WSDL it serves and the XSD every
# request and reply is validated against; and its own vocabulary, as the utility's system has it.
CONTRACT_DIR = Path(__file__).resolve().parent.parent / "contracts" / "teplotsentral"
WSDL_FILE, XSD_FILE = CONTRACT_DIR / "teplotsentral.wsdl", CONTRACT_DIR / "teplotsentral.xsd"
NAMESPACE = "http://teplotsentral.kr.ua/ws/complaints/1.0"
ENDPOINT_PATH = "/ws/ComplaintService"
COMPLAINT_TYPES: dict[str, str] = {
    "NO_HEATING": "відсутнє опалення у квартирі",
    "POOR_HEATING": "незадовільне опалення у квартирі",
    "NO_HEATING_ENTRANCE": "відсутнє опалення у під'їзді",
    "HEATING_SYSTEM_REPAIR": "ремонт внутрішньобудинкової системи опалення",
    "NO_HOT_WATER": "відсутня або холодна гаряча вода",
    "HEAT_CARRIER_LEAK": "витік теплоносія на тепломережі",
    "LANDSCAPING_RESTORE": "відновлення благоустрою після ремонту тепломереж",
    "NO_HEATING_BUILDING": "відсутнє опалення будинку (аварія)",
    "MAIN_BURST": "прорив тепломережі з виходом води на поверхню",
    "NO_HOT_WATER_MEDICAL": "відсутнє ГВП закладу охорони здоров'я",
    "HEATING_RISER_LEAK": "протікання стояка опалення",
    "HOT_WATER_RISER_LEAK": "протікання стояка гарячої води",
    "RADIATOR_AIRLOCK": "завоздушення радіатора",
    "HEAT_METER_FAULT": "несправність будинкового лічильника тепла",
}
REGISTERED, DISPATCHED, IN_WORK, DONE, CLOSED, REJECTED, NOT_OUR_NETWORK = "10", "20", "30", "40", "50", "90", "91"
STATUS_CODES: dict[str, str] = {
    REGISTERED: "зареєстровано", DISPATCHED: "передано бригаді", IN_WORK: "в роботі", DONE: "виконано",
    CLOSED: "закрито", REJECTED: "відхилено", NOT_OUR_NETWORK: "не наші мережі",
}
FAULT_VALIDATION, FAULT_UNKNOWN_TYPE, FAULT_AUTH = "VALIDATION", "UNKNOWN_TYPE", "AUTH"  # soap:Client
FAULT_INTERNAL, FAULT_DB_LOCKED = "INTERNAL", "DB_LOCKED"  # soap:Server
OUTAGE_KINDS, OUTAGE_SERVICES = frozenset({"planned", "emergency"}), frozenset({"heating", "hot_water"})
KYIV = ZoneInfo("Europe/Kyiv")
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = "#PasswordDigest"
XSD_NAME = XSD_FILE.name
LATE_WRITE_MAX = timedelta(minutes=2)
PROMPT_WRITE, PROMPT_SHARE = 3.0, 0.5  # half the changes are journalled within 3 s, the rest up to 2 min late
SIDE_EXIT_PROBABILITY = 0.07
MAX_WINDOW = timedelta(days=31)
FUTURE_TOLERANCE = timedelta(minutes=10)
_XML = "text/xml; charset=utf-8"

DEFAULT_NOTICES: tuple[dict[str, Any], ...] = (
    {
        "service": "hot_water",
        "address_lines": ["вул. Соборності, 12–28 (парні)", "просп. Металургів, 5, 7, 9а", "м-н Сонячний, буд. 1–15"],
        "reason": "Гідравлічні випробування тепломережі після ремонту магістралі ТМ-3",
    },
    {
        "service": "heating",
        "address_lines": ["вул. Криворіжсталі, 2–10", "вул. Героїв АТО, 41, 43, 45"],
        "reason": "Заміна запірної арматури на тепловій камері ТК-17",
    },
    {
        "service": "hot_water",
        "address_lines": ["просп. Поштовий, 22–34 (парні)", "вул. Мелешкіна, 5"],
        "reason": "Планова перевірка теплового пункту",
    },
)
COMMENTS = {
    DISPATCHED: "Передано аварійній бригаді №{crew}",
    IN_WORK: "Бригада на місці, виконуються роботи",
    DONE: "Роботи виконано",
    CLOSED: "Заявку закрито диспетчером",
    REJECTED: "Під час обстеження порушень не виявлено",
    NOT_OUR_NETWORK: "Мережі не перебувають на балансі АТ «Криворізька теплоцентраль»",
}


def q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def real_utc_now() -> datetime:
    return datetime.now(UTC)


def wall(instant: datetime) -> datetime:
    """Naive Kyiv wall time of an aware instant, whole seconds: how the service's database keeps it."""
    return instant.astimezone(KYIV).replace(tzinfo=None, microsecond=0, fold=0)


def wall_text(instant: datetime) -> str:
    return wall(instant).strftime("%Y-%m-%dT%H:%M:%S")


class ManualClock:
    """A settable clock for tests and demos: ``clock()`` returns the current aware UTC instant."""

    def __init__(self, start: datetime) -> None:
        self.set(start)

    def __call__(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **units: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**units)
        return self._now


class SoapFault(Exception):
    def __init__(self, side: str, code: str, message: str) -> None:
        super().__init__(message)
        self.side, self.code, self.message = side, code, message


@dataclass
class Complaint:
    complaint_id: str
    external_number: str
    complaint_type: str
    status: str
    registered_at: datetime  # naive Kyiv wall time, as received
    created_at: datetime  # aware UTC
    payload: dict[str, Any]
    comments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    complaint_id: str
    external_number: str
    status: str
    changed_at: datetime  # aware UTC, whole seconds
    visible_at: datetime  # aware UTC: when the batch job writes it
    comment: str | None
    changed_wall: datetime  # what the service's database column holds: naive Kyiv wall time


@dataclass
class Outage:
    outage_id: str
    revision: int
    kind: str
    service: str
    address_lines: list[str]
    starts_at: datetime  # aware UTC
    ends_at: datetime | None
    reason: str
    cancelled: bool = False


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_FILE), _safe_parser()))


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


def _child_text(parent: etree._Element, name: str) -> str | None:
    child = parent.find(q(name))
    return child.text if child is not None else None


def _parse_local(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SoapFault("Client", FAULT_VALIDATION, f"{what}: not a date-time") from None
    if value.tzinfo is not None:
        raise SoapFault("Client", FAULT_VALIDATION, f"{what}: local time without an offset expected")
    return value


class TeplotsentralSimulator(BaseSimulator):
    """The utility's complaint service. State API of BaseSimulator plus comments, job_payload,
    complaint_count, change_log and inject_raw_change (tests of malformed feeds)."""

    name = "teplotsentral"
    create_route = ("POST", ENDPOINT_PATH)  # where a create arrives (for faults aimed at creates)
    fault_kinds = ("x-db-locked", "x-internal", "x-validation", "x-evil-xml")  # its own faults (module docstring)
    contract_document = "teplotsentral/"
    port_offset = 2  # on a stand (python -m simulators serve)
    routes: ClassVar[dict[str, tuple[str, str]]] = {  # one endpoint: the SOAP action tells calls apart
        stream: ("POST", ENDPOINT_PATH) for stream in ("create", "feed", "planned", "update")}
    malformed_payload = (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b"<ns:RegisterComplaintResponse xmlns:ns=" + f'"{NAMESPACE}"'.encode() + b"><ns:Complaint"
    )

    def is_create(self, request: Request) -> bool:
        """Every call shares the one endpoint: a create is the one whose body registers a complaint."""
        return super().is_create(request) and b"RegisterComplaint" in request.body

    def __init__(
        self,
        *,
        seed: int = 1520,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "cc1520",
        password: str = "teplo-1520-secret",
        clock: Callable[[], datetime] | None = None,
        late_write_max: timedelta = LATE_WRITE_MAX,
    ) -> None:
        super().__init__(seed=seed, host=host, port=port)
        self.username, self.password = username, password
        self._now_source: Callable[[], datetime] = clock or real_utc_now
        self.late_write_max = late_write_max
        self._violations: list[dict[str, Any]] = []
        self._reset_state()

    def _reset_state(self) -> None:
        self.random = random.Random(self.seed)
        self._delays = random.Random(self.seed + 1)
        self._complaints: dict[str, Complaint] = {}
        self._journal: list[JournalEntry] = []
        self._outages: dict[str, Outage] = {}
        self._ids = itertools.count(240001)
        self._seq = itertools.count(1)
        self._comment_ids = itertools.count(1)
        self._outage_ids = itertools.count(1)

    def reset(self) -> None:
        """Back to an empty service with the same seed, no planned faults (one server serves many tests)."""
        with self.lock:
            self.faults.clear()
            self.faults.injected.clear()
            self.request_log.clear()
            self._reset_state()

    def prompt(self) -> None:
        """Changes visible as soon as they happen (no late writes)."""
        self.late_write_max = timedelta(0)

    # clock ---------------------------------------------------------------------------------------
    def set_clock(self, clock: Callable[[], datetime]) -> None:
        self._now_source = clock

    def now(self) -> datetime:
        value = self._now_source()
        if value.tzinfo is None:
            raise ValueError("the simulator clock must return an aware datetime")
        return value.astimezone(UTC)

    # HTTP ------------------------------------------------------------------------------------------
    def dispatch(self, request: Request, fault: Fault | None) -> Response:
        if fault and fault.kind == "x-late-reply":  # committed at once, answered after the client gave up
            response = self.dispatch(request, None)
            sleep(float(fault.params.get("seconds", 1.0)))
            return response
        if request.path != ENDPOINT_PATH:
            return Response(404, b"<html><body><h1>404 Not Found</h1></body></html>", {"Content-Type": "text/html"})
        if request.method == "GET":
            return self._serve_description(request)
        if request.method != "POST":
            return Response(405, b"Method Not Allowed", {"Content-Type": "text/plain"})
        if not request.headers.get("content-type", "").lower().startswith("text/xml"):
            return Response(415, b"Unsupported Media Type: SOAP 1.1 expects text/xml", {"Content-Type": "text/plain"})
        try:
            with self.lock:  # one lxml XMLSchema object is not to be shared between threads at once
                body = self._open_envelope(request)
            if fault and fault.kind == "x-db-locked":
                raise SoapFault("Server", FAULT_DB_LOCKED, "Database is locked by a maintenance job, try later")
            if fault and fault.kind == "x-internal":
                raise SoapFault("Server", FAULT_INTERNAL, "Internal error (ORA-03113: end-of-file on channel)")
            if fault and fault.kind == "x-validation":
                raise SoapFault("Client", FAULT_VALIDATION, "Validation failed (rule VR-17): the request was refused")
            with self.lock:
                reply = self._handle(body)
        except SoapFault as exc:
            return self._fault(exc)
        if fault and fault.kind == "x-evil-xml":
            return Response(200, self._evil_body(str(fault.params.get("variant", "bomb"))), {"Content-Type": _XML})
        return Response(200, self._envelope(reply), {"Content-Type": _XML})

    def _serve_description(self, request: Request) -> Response:
        endpoint = self.url + ENDPOINT_PATH
        if "wsdl" in request.query:
            text = WSDL_FILE.read_text(encoding="utf-8")
            text = text.replace(f'schemaLocation="{XSD_NAME}"', f'schemaLocation="{endpoint}?xsd={XSD_NAME}"')
            start = text.index('<soap:address location="') + len('<soap:address location="')
            text = text[:start] + endpoint + text[text.index('"', start) :]
            return Response(200, text.encode("utf-8"), {"Content-Type": _XML})
        if request.arg("xsd") == XSD_NAME:
            return Response(200, XSD_FILE.read_bytes(), {"Content-Type": _XML})
        return Response(404, b"<html><body><h1>404 Not Found</h1></body></html>", {"Content-Type": "text/html"})

    def _open_envelope(self, request: Request) -> etree._Element:
        try:
            root = etree.fromstring(request.body, _safe_parser())
        except etree.XMLSyntaxError as exc:
            raise SoapFault("Client", FAULT_VALIDATION, f"Not well-formed XML: {exc.msg}") from None
        if root.getroottree().docinfo.doctype:
            raise SoapFault("Client", FAULT_VALIDATION, "DTDs are not allowed in messages")
        if root.tag != f"{{{SOAP_ENV}}}Envelope":
            raise SoapFault("Client", FAULT_VALIDATION, "Not a SOAP 1.1 Envelope")
        body = root.find(f"{{{SOAP_ENV}}}Body")
        children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
        if len(children) != 1:
            raise SoapFault("Client", FAULT_VALIDATION, "The Body must hold exactly one element")
        self._check_token(root.find(f"{{{SOAP_ENV}}}Header"))
        payload = children[0]
        action = request.headers.get("soapaction", "").strip().strip('"')
        operation = etree.QName(payload).localname.removesuffix("Request")
        if action and action.rsplit("/", 1)[-1] != operation:
            raise SoapFault("Client", FAULT_VALIDATION, f"SOAPAction {action!r} does not match the body")
        schema = _schema()
        if not schema.validate(deepcopy(payload)):
            error = schema.error_log.last_error
            message = f"Schema validation failed: {error.message if error else ''}"
            self._violations.append({"direction": "request", "method": request.method, "path": request.path,
                                     "problems": [message]})
            raise SoapFault("Client", FAULT_VALIDATION, message)
        return payload

    def _check_token(self, header: etree._Element | None) -> None:
        token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken") if header is not None else None
        if token is None:
            raise SoapFault("Client", FAULT_AUTH, "WS-Security UsernameToken required")
        username = token.findtext(f"{{{WSSE}}}Username") or ""
        password = token.find(f"{{{WSSE}}}Password")
        given = (password.text or "") if password is not None else ""
        if password is not None and (password.get("Type") or "").endswith(PASSWORD_DIGEST):
            try:
                nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
            except ValueError:
                nonce = b""
            created = token.findtext(f"{{{WSU}}}Created") or ""
            expected = base64.b64encode(
                hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()
            ).decode()
        else:
            expected = self.password
        if not (hmac.compare_digest(username, self.username) and hmac.compare_digest(given, expected)):
            raise SoapFault("Client", FAULT_AUTH, "Authentication failed")

    def _handle(self, body: etree._Element) -> etree._Element:
        handlers = {
            "RegisterComplaintRequest": self._register,
            "FindComplaintsRequest": self._find,
            "GetStatusChangesRequest": self._changes,
            "AddCommentRequest": self._add_comment,
            "GetPlannedOutagesRequest": self._outages_in_window,
        }
        handler = handlers.get(etree.QName(body).localname)
        if handler is None:
            raise SoapFault("Client", FAULT_VALIDATION, f"Unknown operation {etree.QName(body).localname}")
        return handler(body)

    def check_reply(self, request: Request, response: Response) -> None:
        """Every reply body against the XSD (a fault's detail too); a misfit is a simulator bug, recorded."""
        if request.method != "POST" or not response.headers.get("Content-Type", "").startswith("text/xml"):
            return
        try:
            body = etree.fromstring(response.body, _safe_parser()).find(f"{{{SOAP_ENV}}}Body")
        except etree.XMLSyntaxError as exc:
            self._violation(request, f"reply is not XML: {exc.msg}")
            return
        for element in body if body is not None else ():
            fault = etree.QName(element).localname == "Fault" and etree.QName(element).namespace == SOAP_ENV
            checked = element.find("detail/" + q("FaultDetail")) if fault else element
            if checked is None:
                self._violation(request, "a fault without FaultDetail")
                continue
            with self.lock:
                schema = _schema()
                valid = schema.validate(deepcopy(checked))
                error = schema.error_log.last_error
            if not valid:
                self._violation(request, f"reply {etree.QName(checked).localname}: {error.message if error else ''}")

    def _violation(self, request: Request, problem: str) -> None:
        with self.lock:
            self._violations.append({"direction": "response", "method": request.method, "path": request.path,
                                     "problems": [problem]})

    @property
    def contract_violations(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._violations)

    def _envelope(self, reply: etree._Element) -> bytes:
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "tc": NAMESPACE})
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(reply)
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")

    def _fault(self, exc: SoapFault) -> Response:
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "tc": NAMESPACE})
        node = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
        etree.SubElement(node, "faultcode").text = f"soap:{exc.side}"
        etree.SubElement(node, "faultstring").text = exc.message
        detail = etree.SubElement(etree.SubElement(node, "detail"), q("FaultDetail"))
        etree.SubElement(detail, q("Code")).text = exc.code
        etree.SubElement(detail, q("Message")).text = exc.message
        return Response(500, etree.tostring(envelope, xml_declaration=True, encoding="utf-8"), {"Content-Type": _XML})

    @staticmethod
    def _evil_body(variant: str) -> bytes:
        if variant == "external":
            dtd = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            value = "&xxe;"
        else:
            levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
            dtd = "<!DOCTYPE r [" + "".join(levels) + "]>"
            value = "&lol9;"
        return (
            f'<?xml version="1.0" encoding="utf-8"?>\n{dtd}\n'
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
            f'<tc:FindComplaintsResponse xmlns:tc="{NAMESPACE}"><tc:Complaint><tc:ComplaintId>{value}</tc:ComplaintId>'
            f"</tc:Complaint></tc:FindComplaintsResponse></soap:Body></soap:Envelope>"
        ).encode()

    # operations ---------------------------------------------------------------------------------------
    def _register(self, body: etree._Element) -> etree._Element:
        complaint_type = _child_text(body, "ComplaintType") or ""
        if complaint_type not in COMPLAINT_TYPES:
            raise SoapFault("Client", FAULT_UNKNOWN_TYPE, f"Unknown complaint type {complaint_type}")
        description = _child_text(body, "Description") or ""
        if not description.strip():
            raise SoapFault("Client", FAULT_VALIDATION, "Description is blank")
        registered_text = _child_text(body, "RegisteredAt") or ""
        registered = _parse_local(registered_text, "RegisteredAt")
        now = self.now()
        if registered.replace(tzinfo=KYIV).astimezone(UTC) > now + FUTURE_TOLERANCE:
            raise SoapFault("Client", FAULT_VALIDATION, "RegisteredAt is in the future")
        address = body.find(q("Address"))
        payload: dict[str, Any] = {
            "ExternalNumber": _child_text(body, "ExternalNumber"),
            "ComplaintType": complaint_type,
            "Address": {
                name: _child_text(address, name)
                for name in ("Street", "House", "Flat")
                if address is not None and address.find(q(name)) is not None
            },
            "Description": description,
            "RegisteredAt": registered_text,
        }
        if body.find(q("Phone")) is not None:
            payload["Phone"] = _child_text(body, "Phone")
        complaint = Complaint(
            complaint_id=str(next(self._ids)),
            external_number=payload["ExternalNumber"] or "",
            complaint_type=complaint_type,
            status=REGISTERED,
            registered_at=registered,
            created_at=now,
            payload=payload,
        )
        self._complaints[complaint.complaint_id] = complaint
        self._journal_change(complaint, REGISTERED, None)
        reply = etree.Element(q("RegisterComplaintResponse"))
        etree.SubElement(reply, q("ComplaintId")).text = complaint.complaint_id
        return reply

    def _find(self, body: etree._Element) -> etree._Element:
        number = _child_text(body, "ExternalNumber")
        reply = etree.Element(q("FindComplaintsResponse"))
        for complaint in self._complaints.values():
            if complaint.external_number != number:
                continue
            item = etree.SubElement(reply, q("Complaint"))
            for name, value in (
                ("ComplaintId", complaint.complaint_id),
                ("ExternalNumber", complaint.external_number),
                ("ComplaintType", complaint.complaint_type),
                ("StatusCode", complaint.status),
                ("RegisteredAt", complaint.registered_at.strftime("%Y-%m-%dT%H:%M:%S")),
            ):
                etree.SubElement(item, q(name)).text = value
        return reply

    def _window(self, body: etree._Element) -> tuple[datetime, datetime]:
        start = _parse_local(_child_text(body, "From") or "", "From")
        end = _parse_local(_child_text(body, "To") or "", "To")
        if start > end:
            raise SoapFault("Client", FAULT_VALIDATION, "From is after To")
        if end - start > MAX_WINDOW:
            raise SoapFault("Client", FAULT_VALIDATION, "The window is longer than 31 days")
        return start, end

    def _changes(self, body: etree._Element) -> etree._Element:
        start, end = self._window(body)
        now = self.now()
        rows = [e for e in self._journal if e.visible_at <= now and start <= e.changed_wall <= end]
        reply = etree.Element(q("GetStatusChangesResponse"))
        for entry in sorted(rows, key=lambda e: (e.changed_wall, e.seq)):
            item = etree.SubElement(reply, q("StatusChange"))
            etree.SubElement(item, q("ComplaintId")).text = entry.complaint_id
            etree.SubElement(item, q("ExternalNumber")).text = entry.external_number
            etree.SubElement(item, q("StatusCode")).text = entry.status
            etree.SubElement(item, q("ChangedAt")).text = entry.changed_wall.strftime("%Y-%m-%dT%H:%M:%S")
            if entry.comment:
                etree.SubElement(item, q("Comment")).text = entry.comment
        return reply

    def _add_comment(self, body: etree._Element) -> etree._Element:
        complaint = self._complaints.get(_child_text(body, "ComplaintId") or "")
        if complaint is None:
            raise SoapFault("Client", FAULT_VALIDATION, "ComplaintId does not exist")
        complaint.comments.append(_child_text(body, "Text") or "")
        reply = etree.Element(q("AddCommentResponse"))
        etree.SubElement(reply, q("CommentId")).text = str(next(self._comment_ids))
        return reply

    def _outages_in_window(self, body: etree._Element) -> etree._Element:
        start, end = self._window(body)
        reply = etree.Element(q("GetPlannedOutagesResponse"))
        for outage in self._outages.values():
            if wall(outage.starts_at) > end or (outage.ends_at is not None and wall(outage.ends_at) < start):
                continue
            item = etree.SubElement(reply, q("Outage"))
            etree.SubElement(item, q("OutageId")).text = outage.outage_id
            etree.SubElement(item, q("Revision")).text = str(outage.revision)
            etree.SubElement(item, q("Kind")).text = outage.kind
            etree.SubElement(item, q("Service")).text = outage.service
            lines = etree.SubElement(item, q("AddressLines"))
            for line in outage.address_lines:
                etree.SubElement(lines, q("AddressLine")).text = line
            etree.SubElement(item, q("StartsAt")).text = wall_text(outage.starts_at)
            if outage.ends_at is not None:
                etree.SubElement(item, q("EndsAt")).text = wall_text(outage.ends_at)
            etree.SubElement(item, q("Reason")).text = outage.reason
            etree.SubElement(item, q("Cancelled")).text = "true" if outage.cancelled else "false"
        return reply

    # journal ---------------------------------------------------------------------------------------------
    def _journal_change(self, complaint: Complaint, status: str, comment: str | None) -> None:
        changed_at = self.now().replace(microsecond=0)
        # The journal batch job usually keeps up within seconds; about half the time it lags, by up
        # to the contract's 2 minutes.
        lag_limit = self.late_write_max.total_seconds()
        prompt = min(PROMPT_WRITE, lag_limit)
        roll = self._delays.random()
        seconds = self._delays.uniform(0, prompt) if roll < PROMPT_SHARE else self._delays.uniform(prompt, lag_limit)
        delay = timedelta(seconds=seconds)
        complaint.status = status
        self._journal.append(
            JournalEntry(
                next(self._seq),
                complaint.complaint_id,
                complaint.external_number,
                status,
                changed_at,
                changed_at + delay,
                comment,
                wall(changed_at),
            )
        )

    # state API ----------------------------------------------------------------------------------------------
    def connection_config(self) -> ConnectionConfig:
        return ConnectionConfig(
            conn_id="teplotsentral_soap",
            base_url=self.url + ENDPOINT_PATH,
            login=self.username,
            password=self.password,
        )

    def jobs_by_reference(self) -> dict[str, list[str]]:
        with self.lock:
            result: dict[str, list[str]] = {}
            for complaint in self._complaints.values():
                result.setdefault(complaint.external_number, []).append(complaint.complaint_id)
            return result

    def advance(self, steps: int = 1) -> None:
        with self.lock:
            for _ in range(steps):
                for complaint in list(self._complaints.values()):
                    if complaint.status not in (REGISTERED, DISPATCHED, IN_WORK, DONE):
                        continue  # final, or a raw code a test injected: no next status
                    status = self._next_status(complaint.status)
                    template = COMMENTS.get(status)
                    comment = template.format(crew=self.random.randint(1, 12)) if template else None
                    self._journal_change(complaint, status, comment)

    def _next_status(self, status: str) -> str:
        roll = self.random.random()
        if status == REGISTERED:
            return NOT_OUR_NETWORK if roll < SIDE_EXIT_PROBABILITY else DISPATCHED
        if status == DISPATCHED:
            return REJECTED if roll < SIDE_EXIT_PROBABILITY else IN_WORK
        return {IN_WORK: DONE, DONE: CLOSED}[status]

    def set_job_status(self, job_id: str, status: str) -> None:
        if status not in STATUS_CODES:
            raise ValueError(f"unknown status {status!r}; known: {sorted(STATUS_CODES)}")
        with self.lock:
            self._journal_change(self._complaints[job_id], status, COMMENTS.get(status, "").format(crew=1) or None)

    def inject_noisy_changes(self, job_ids: list[str], comment: str) -> None:
        self.inject_raw_change(job_ids[0], "20", comment)
        self.inject_raw_change(job_ids[1], "95", comment)

    def inject_raw_change(self, job_id: str, status: str, comment: str | None = None) -> None:
        """Journal a change with any code, even one the contract does not have (malformed-feed tests)."""
        with self.lock:
            self._journal_change(self._complaints[job_id], status, comment)

    def comments(self, complaint_id: str) -> list[str]:
        with self.lock:
            return list(self._complaints[complaint_id].comments)

    def job_payload(self, complaint_id: str) -> dict[str, Any]:
        with self.lock:
            return deepcopy(self._complaints[complaint_id].payload)

    def complaint_count(self) -> int:
        with self.lock:
            return len(self._complaints)

    def change_log(self) -> list[dict[str, Any]]:
        """Every journalled change (visible or not yet), oldest first: the ground truth for feed tests."""
        with self.lock:
            return [
                {
                    "complaint_id": e.complaint_id,
                    "external_number": e.external_number,
                    "status": e.status,
                    "changed_at": e.changed_at,
                    "visible_at": e.visible_at,
                    "comment": e.comment,
                }
                for e in self._journal
            ]

    def add_planned_work(self, **fields: Any) -> str:
        """A new outage. Fields: kind, service, address_lines, starts_at, ends_at (None: until finished),
        reason. With none, a realistic planned notice from tomorrow 09:00 to 18:00 Kyiv time."""
        allowed = {"kind", "service", "address_lines", "starts_at", "ends_at", "reason"}
        if unknown := set(fields) - allowed:
            raise ValueError(f"unknown outage fields {sorted(unknown)}; known: {sorted(allowed)}")
        with self.lock:
            number = next(self._outage_ids)
            template = DEFAULT_NOTICES[(number - 1) % len(DEFAULT_NOTICES)]
            tomorrow = (self.now().astimezone(KYIV) + timedelta(days=1)).date()
            if "starts_at" in fields:
                starts_at = fields["starts_at"]
                ends_at = fields["ends_at"] if "ends_at" in fields else starts_at + timedelta(hours=9)
            else:
                starts_at = datetime.combine(tomorrow, time(9), KYIV)
                ends_at = fields["ends_at"] if "ends_at" in fields else datetime.combine(tomorrow, time(18), KYIV)
            outage = Outage(
                outage_id=f"TC-OUT-{number:04d}",
                revision=1,
                kind=fields.get("kind", "planned"),
                service=fields.get("service", template["service"]),
                address_lines=list(fields.get("address_lines", template["address_lines"])),
                starts_at=starts_at.astimezone(UTC),
                ends_at=ends_at.astimezone(UTC) if ends_at is not None else None,
                reason=fields.get("reason", template["reason"]),
            )
            if outage.kind not in OUTAGE_KINDS or outage.service not in OUTAGE_SERVICES:
                raise ValueError(f"kind must be one of {sorted(OUTAGE_KINDS)}, service of {sorted(OUTAGE_SERVICES)}")
            self._outages[outage.outage_id] = outage
            return outage.outage_id

    def revise_planned_work(self, notice_id: str, **changes: Any) -> None:
        """A new revision; with no changes the works run two hours longer."""
        with self.lock:
            outage = self._outages[notice_id]
            if not changes:
                base = outage.ends_at or outage.starts_at + timedelta(hours=8)
                changes = {"ends_at": base + timedelta(hours=2)}
            for name, value in changes.items():
                if name not in {"kind", "service", "address_lines", "starts_at", "ends_at", "reason"}:
                    raise ValueError(f"unknown outage field {name!r}")
                if isinstance(value, datetime):
                    value = value.astimezone(UTC)
                setattr(outage, name, list(value) if name == "address_lines" else value)
            outage.revision += 1

    def cancel_planned_work(self, notice_id: str) -> None:
        with self.lock:
            outage = self._outages[notice_id]
            outage.cancelled = True
            outage.revision += 1
