"""Simulator of КП «Кривбасводоканал»'s work-order API (REST/JSON), the well-behaved utility.

A real HTTP server on loopback (see ``simulators.base``). The contract is the OpenAPI document
``contracts/vodokanal.openapi.yaml``: every request and reply is validated against it
(``simulators.contract``). The choices it leaves open, which the connector and its tests rely on:

Auth and errors
- ``X-Api-Key`` is compared in constant time; wrong or missing: 401 ``{"error": "unauthorized"}``.
  Auth is checked before routing, so an unknown path with a bad key is 401, not 404.
- The custom faults ``x-throttle`` and ``x-maintenance`` (below) come from the front, before auth.
  ``x-late-reply`` (param ``seconds``) handles the request at once (it is committed) and answers only
  ``seconds`` later: a read timeout after the utility committed, when that is longer than the client's.
- Every error body is JSON ``{"error": <code>, "detail": <text>, "errors": [...]}``; ``errors`` lists
  ``{"field", "code", "message"}`` with dotted field names (``address.house``). Messages never echo
  the submitted values (a phone number must not travel back in an error).
- 400: request-level problems (no ``Idempotency-Key``, body not JSON, bad query parameters).
  422: ``{"error": "validation_failed"}`` with the field list. 404: ``order_not_found`` for an unknown
  order, ``no_route`` for an unknown path. 405: ``method_not_allowed``.
- The API's own 503 ``{"error": "maintenance"}`` (custom fault ``x-maintenance``) and 429
  ``{"error": "rate_limited"}`` (custom fault ``x-throttle``) are sent *before* the request is
  handled, with ``Retry-After`` (seconds by default; pass ``retry_after="<HTTP date>"`` for the other
  form). A bare 5xx from the base faults (``server_error``, ``html_error``) proves nothing.

Work orders
- Order ids are ``WO-000001``, ``WO-000002``... in creation order; the create reply is 201 with the
  order and a ``Location`` header. The order representation never echoes ``contact_phone``.
- Idempotency: keys are kept forever (a real system keeps them for days). "Same body" means the same
  parsed JSON (key order and whitespace do not matter). Same key + same body: 200 with the original
  order as it is now, header ``Idempotent-Replayed: true``. Same key + different body: 409
  ``idempotency_key_reused`` naming the original ``order_id``. A request refused with 400/422 does
  not consume its key. The utility does not deduplicate by ``external_ref``: a second key makes a
  second order (that is why the gateway looks orders up before re-creating after an ambiguous call).
- Validation (422): ``external_ref`` (1–64 chars), ``job_type`` (one of
  the contract document's ``JobType``), ``priority``, ``address.street``, ``address.house``,
  ``description`` (≤ 4000 chars) and ``reported_at`` (ISO 8601 *with* offset) are required;
  ``address.flat`` (≤ 16 chars) is optional; ``address.lat``/``address.lon`` are optional numbers but
  come together; ``contact_phone`` is optional, 10–13 digits with an optional leading ``+``
  (spaces, dashes and brackets allowed). Unknown fields are ignored but kept in the stored payload.
- A new order starts ``NEW`` and that is the first entry of the change feed.
- ``GET /api/v1/work-orders`` needs ``external_ref`` (exact match; 400 without it) and returns
  ``{"items": [orders by id]}``, possibly empty.

Change feed
- ``seq`` starts at 1 and has no gaps; ``after`` defaults to 0, ``limit`` to 100 and is capped at 500
  (a larger one is clamped, not refused); non-integers or negatives are 400. Reply:
  ``{"items": [...], "next_after": <last seq returned, or after>, "has_more": bool}``. Items carry
  ``seq, order_id, external_ref, status, changed_at, comment, crew`` (``comment``/``crew`` may be
  null). Timestamps are Kyiv local time with its offset (``+02:00``/``+03:00``).

Notes
- Body ``{"kind": rework|withdrawn|details, "text": <1–4000 chars>, "at": <optional ISO 8601>}``;
  an optional ``Idempotency-Key`` makes a note safe to repeat (same rules as orders, per order).
- ``withdrawn`` on an open order -> ``CANCELLED``; ``rework`` on a ``COMPLETED`` order ->
  ``IN_PROGRESS``; both append to the feed. On any other status the note is recorded (201) and the
  status does not move: a withdrawal of a finished order is not an error for the utility.
- Reply 201 ``{"id": "N-000001", "order_id", "kind", "text", "at", "created_at", "order_status"}``.

Planned works
- ``from``/``to`` are ISO 8601 with offset (a bare date means Kyiv midnight); both optional
  (``from`` = now, ``to`` = from + 31 days); ``from`` must be before ``to``. A notice is returned when
  its works overlap the window (``starts_at < to`` and ``ends_at`` null or ``> from``), cancelled
  ones included so clients learn of the cancellation. Only the latest version is served.
- Pages are 1-based, 20 notices each (``page_size``), ordered by id, i.e. by first publication, so a
  notice published while a client pages appears at the end and nothing is skipped. Reply:
  ``{"items", "page", "pages", "total", "next_page"}`` (``next_page`` null on the last page).
- Notice ids are ``PW-00001``...; ``version`` starts at 1 and every revision or cancellation adds 1;
  ``published_at`` is the first publication, ``updated_at`` the latest revision. ``houses`` is a list
  of house numbers (``["5", "7", "9а"]``), a range ``{"from": 12, "to": 28, "side": "even"|"odd"|null}``
  or the string ``"all"``. ``contact_phone`` is the utility's public hotline.

Clock and randomness
- ``advance()`` walks orders in id order with a seeded ``random.Random``: ``NEW`` -> ``ACCEPTED``
  (``reject_rate`` to ``REJECTED_NOT_OURS``, ``duplicate_rate`` to ``DUPLICATE``) -> ``CREW_ASSIGNED``
  (a crew name) -> ``IN_PROGRESS`` (``false_call_rate``, default 18 %, ends in ``FALSE_CALL``: the crew
  found nothing on site) -> ``COMPLETED``. ``clock`` (a callable returning an aware datetime) lets
  tests fix time; the default is the wall clock in Kyiv.
"""

from __future__ import annotations

import copy
import hmac
import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import sleep
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import yaml

from gateway.connections import ConnectionConfig
from simulators.base import BaseSimulator, Fault, FaultPlan, Request, Response
from simulators.contract import OpenApiContract, Problem, enum

KYIV = ZoneInfo("Europe/Kyiv")
STREETS_FILE = Path(__file__).resolve().parent / "data" / "streets.yaml"  # the simulators' own copy
API_PREFIX = "/api/v1"
# the vocabulary comes from the contract document
JOB_TYPES = frozenset(enum("vodokanal", "JobType"))
STATUSES = frozenset(enum("vodokanal", "Status"))
PRIORITIES = frozenset(enum("vodokanal", "Priority"))
FINAL_STATUSES = frozenset({"COMPLETED", "REJECTED_NOT_OURS", "DUPLICATE", "FALSE_CALL", "CANCELLED"})
NOTE_KINDS = frozenset({"rework", "withdrawn", "details"})
FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT = 100, 500
PLANNED_WORKS_PAGE_SIZE = 20
HOTLINE = "+380564041520"
PHONE_RE = re.compile(r"^\+?\d{10,13}$")
NOTICE_FIELDS = frozenset(
    {
        "kind",
        "service",
        "addresses",
        "starts_at",
        "ends_at",
        "reason",
        "tanker_location",
        "contact_phone",
        "households",
        "state",
        "published_at",
    }
)
REASONS = (
    "заміна засувки на водоводі Д-300 мм",
    "ремонт водопровідної мережі Д-150 мм",
    "планова промивка водопровідної мережі",
    "заміна аварійної ділянки каналізаційного колектора",
    "підключення нової ділянки водогону",
)
COMMENTS = {
    "ACCEPTED": "Заявку прийнято диспетчерською службою",
    "CREW_ASSIGNED": "Призначено аварійно-відновлювальну бригаду",
    "IN_PROGRESS": "Бригада на місці, роботи розпочато",
    "COMPLETED": "Роботи виконано",
    "REJECTED_NOT_OURS": "Мережі не перебувають на балансі КП «Кривбасводоканал»",
    "DUPLICATE": "Дублює раніше зареєстровану заявку за цією адресою",
    "FALSE_CALL": "Під час виїзду бригади порушень не виявлено",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(KYIV).isoformat(timespec="seconds")


def _error(status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> Response:
    payload: dict[str, Any] = {"error": code, "detail": detail, **extra}
    if errors is not None:
        payload["errors"] = errors
    return Response.json(status, payload)


def _fingerprint(body: Any) -> str:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _aware_timestamp(value: Any) -> datetime | None:
    """A timestamp with offset, or None when the value is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _query_moment(value: str) -> datetime | None:
    """A planned-works window bound: a timestamp with offset or a bare date (Kyiv midnight)."""
    moment = _aware_timestamp(value)
    if moment is not None:
        return moment
    try:
        return datetime.combine(date.fromisoformat(value), time(0), KYIV)
    except ValueError:
        return None


def _contract_refusal(request: Request, problems: list[Problem]) -> Response:
    """A request the contract document refuses, answered in the API's own error format."""
    wire = [{"field": p.field, "code": p.code, "message": p.message} for p in problems]
    params = [e for e, p in zip(wire, problems, strict=True) if p.where != "body"]
    if params:
        if any(e["field"] == "Idempotency-Key" for e in params):
            return _error(400, "idempotency_key_required", "every create needs an Idempotency-Key", params)
        return _error(400, "bad_query", "bad request parameters", params)
    try:
        json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid_json", "the body is not JSON", [])
    return _error(422, "validation_failed", "the request body is not valid", wire)


class _Errors:
    """Collects field errors in the wire shape."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.items.append({"field": field, "code": code, "message": message})

    def text(self, body: dict, field: str, name: str, *, required: bool, max_len: int) -> None:
        value = body.get(name)
        if value is None:
            if required:
                self.add(field, "missing", "is required")
        elif not isinstance(value, str) or not value.strip():
            self.add(field, "invalid", "must be a non-empty string")
        elif len(value) > max_len:
            self.add(field, "too_long", f"must be at most {max_len} characters")


def validate_order(body: Any) -> list[dict[str, str]]:
    """The 422 error list for a create body (empty when valid)."""
    errors = _Errors()
    if not isinstance(body, dict):
        errors.add("body", "invalid", "must be a JSON object")
        return errors.items
    errors.text(body, "external_ref", "external_ref", required=True, max_len=64)
    errors.text(body, "description", "description", required=True, max_len=4000)
    job_type = body.get("job_type")
    if job_type is None:
        errors.add("job_type", "missing", "is required")
    elif job_type not in JOB_TYPES:
        errors.add("job_type", "unknown", "is not a job type of this utility")
    priority = body.get("priority")
    if priority is None:
        errors.add("priority", "missing", "is required")
    elif priority not in PRIORITIES:
        errors.add("priority", "invalid", f"must be one of {sorted(PRIORITIES)}")
    address = body.get("address")
    if address is None:
        errors.add("address", "missing", "is required")
    elif not isinstance(address, dict):
        errors.add("address", "invalid", "must be an object")
    else:
        errors.text(address, "address.street", "street", required=True, max_len=200)
        errors.text(address, "address.house", "house", required=True, max_len=20)
        errors.text(address, "address.flat", "flat", required=False, max_len=16)
        for name, bound in (("lat", 90.0), ("lon", 180.0)):
            value = address.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                errors.add(f"address.{name}", "invalid", "must be a number")
            elif abs(value) > bound:
                errors.add(f"address.{name}", "out_of_range", f"must be within ±{bound:g}")
        if (address.get("lat") is None) != (address.get("lon") is None):
            missing = "lon" if address.get("lon") is None else "lat"
            errors.add(f"address.{missing}", "missing", "lat and lon come together")
    phone = body.get("contact_phone")
    if phone is not None and (not isinstance(phone, str) or not PHONE_RE.match(re.sub(r"[\s\-()]", "", phone))):
        errors.add("contact_phone", "invalid", "must be 10-13 digits with an optional leading +")
    reported_at = body.get("reported_at")
    if reported_at is None:
        errors.add("reported_at", "missing", "is required")
    elif _aware_timestamp(reported_at) is None:
        errors.add("reported_at", "invalid", "must be ISO 8601 with a UTC offset")
    return errors.items


class VodokanalSimulator(BaseSimulator):
    """КП «Кривбасводоканал»: work orders with idempotent creates, a sequenced feed, notices."""

    name = "vodokanal"
    create_route = ("POST", "/api/v1/work-orders")  # where a create arrives (for faults aimed at creates)
    fault_kinds = ("x-throttle", "x-maintenance")  # its own faults (module docstring)
    contract_document = "vodokanal.openapi.yaml"
    port_offset = 1  # on a stand (python -m simulators serve)
    routes: ClassVar[dict[str, tuple[str, str]]] = {
        "create": create_route, "feed": ("GET", "/api/v1/work-orders/changes"),
        "planned": ("GET", "/api/v1/planned-works"), "update": ("POST", "/notes")}

    def __init__(
        self,
        *,
        api_key: str = "vk-test-key",
        seed: int = 1520,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
        reject_rate: float = 0.05,
        duplicate_rate: float = 0.05,
        false_call_rate: float = 0.18,
        page_size: int = PLANNED_WORKS_PAGE_SIZE,
    ) -> None:
        super().__init__(seed=seed, host=host, port=port)
        self.api_key = api_key
        self._now = clock or (lambda: datetime.now(KYIV))
        self.reject_rate = reject_rate
        self.duplicate_rate = duplicate_rate
        self.false_call_rate = false_call_rate
        self.page_size = page_size
        self._orders: dict[str, dict[str, Any]] = {}
        self._payloads: dict[str, Any] = {}
        self._order_keys: dict[str, tuple[str, str]] = {}  # Idempotency-Key -> (fingerprint, order id)
        self._notes: dict[str, list[dict[str, Any]]] = {}
        self._note_keys: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._feed: list[dict[str, Any]] = []  # seq == index + 1
        self._notices: dict[str, dict[str, Any]] = {}
        self._note_counter = 0
        with STREETS_FILE.open(encoding="utf-8") as handle:
            self._streets = [row["street"] for row in yaml.safe_load(handle)]
        self.contract = OpenApiContract("vodokanal")

    def reset(self) -> None:
        """Forget every order, note, notice and planned fault and reseed, as if just constructed.

        Lets a test module reuse one running server (stopping one takes up to half a second).
        """
        with self.lock:
            self.random.seed(self.seed)
            self.faults = FaultPlan(self.seed)
            self._orders.clear()
            self._payloads.clear()
            self._order_keys.clear()
            self._notes.clear()
            self._note_keys.clear()
            self._feed.clear()
            self._notices.clear()
            self._note_counter = 0

    # HTTP -----------------------------------------------------------------------------------------
    def dispatch(self, request: Request, fault: Fault | None) -> Response:
        if fault and fault.kind == "x-late-reply":  # committed at once, answered after the client gave up
            response = self.dispatch(request, None)
            sleep(float(fault.params.get("seconds", 1.0)))
            return response
        if fault and fault.kind == "x-throttle":
            return self._refusal(429, "rate_limited", fault, default_retry="2")
        if fault and fault.kind == "x-maintenance":
            return self._refusal(503, "maintenance", fault, default_retry="30")
        supplied = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(supplied.encode(), self.api_key.encode()):
            return _error(401, "unauthorized", "missing or wrong X-Api-Key")
        if problems := self.contract.check_request(request):
            return _contract_refusal(request, problems)
        path = request.path.rstrip("/")
        orders = f"{API_PREFIX}/work-orders"
        with self.lock:
            if path == orders:
                return self._by_method(request, GET=self._lookup, POST=self._create)
            if path == f"{orders}/changes":
                return self._by_method(request, GET=self._changes)
            if path == f"{API_PREFIX}/planned-works":
                return self._by_method(request, GET=self._planned_works)
            if match := re.fullmatch(rf"{re.escape(orders)}/([^/]+)/notes", path):
                return self._by_method(request, POST=lambda r: self._add_note(r, match.group(1)))
            if match := re.fullmatch(rf"{re.escape(orders)}/([^/]+)", path):
                return self._by_method(request, GET=lambda r: self._get_order(match.group(1)))
        return _error(404, "no_route", "no such endpoint")

    @staticmethod
    def _by_method(request: Request, **handlers: Callable[[Request], Response]) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return _error(405, "method_not_allowed", f"allowed: {', '.join(sorted(handlers))}")
        return handler(request)

    @staticmethod
    def _refusal(status: int, code: str, fault: Fault, default_retry: str) -> Response:
        response = _error(status, code, "request refused before processing; nothing was changed")
        response.headers["Retry-After"] = str(fault.params.get("retry_after", default_retry))
        return response

    def _create(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key", "").strip()
        if not key or len(key) > 255:
            errors = [
                {
                    "field": "Idempotency-Key",
                    "code": "missing" if not key else "too_long",
                    "message": "header Idempotency-Key (1-255 characters) is required",
                }
            ]
            return _error(400, "idempotency_key_required", "every create needs an Idempotency-Key", errors)
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "invalid_json", "the body is not JSON", [])
        fingerprint = _fingerprint(body)
        if key in self._order_keys:
            first_fingerprint, order_id = self._order_keys[key]
            if first_fingerprint != fingerprint:
                return _error(
                    409,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different body",
                    order_id=order_id,
                )
            return Response.json(200, self._orders[order_id], {"Idempotent-Replayed": "true"})
        if errors := validate_order(body):
            return _error(422, "validation_failed", "the work order is not valid", errors)
        order_id = f"WO-{len(self._orders) + 1:06d}"
        address = {k: body["address"][k] for k in ("street", "house", "flat", "lat", "lon") if k in body["address"]}
        now = _iso(self._now())
        order = {
            "id": order_id,
            "external_ref": body["external_ref"],
            "job_type": body["job_type"],
            "priority": body["priority"],
            "status": "NEW",
            "address": address,
            "description": body["description"],
            "reported_at": body["reported_at"],
            "created_at": now,
            "updated_at": now,
            "crew": None,
            "comment": None,
        }
        self._orders[order_id] = order
        self._payloads[order_id] = copy.deepcopy(body)
        self._notes[order_id] = []
        self._order_keys[key] = (fingerprint, order_id)
        self._append_change(order, "NEW", "Заявку зареєстровано")
        return Response.json(201, order, {"Location": f"{API_PREFIX}/work-orders/{order_id}"})

    def _lookup(self, request: Request) -> Response:
        reference = request.arg("external_ref")
        if not reference:
            errors = [{"field": "external_ref", "code": "missing", "message": "lookup needs external_ref"}]
            return _error(400, "bad_query", "listing all orders is not supported", errors)
        items = [o for _, o in sorted(self._orders.items()) if o["external_ref"] == reference]
        return Response.json(200, {"items": items})

    def _get_order(self, order_id: str) -> Response:
        order = self._orders.get(order_id)
        if order is None:
            return _error(404, "order_not_found", "no such work order")
        return Response.json(200, order)

    def _changes(self, request: Request) -> Response:
        errors: list[dict[str, str]] = []
        values = {}
        for name, default, low in (("after", 0, 0), ("limit", FEED_DEFAULT_LIMIT, 1)):
            raw = request.arg(name)
            if raw is None or raw == "":
                values[name] = default
            elif not raw.isdigit() or int(raw) < low:
                errors.append({"field": name, "code": "invalid", "message": f"must be an integer >= {low}"})
            else:
                values[name] = int(raw)
        if errors:
            return _error(400, "bad_query", "bad change feed parameters", errors)
        after, limit = values["after"], min(values["limit"], FEED_MAX_LIMIT)
        items = self._feed[after : after + limit]
        return Response.json(
            200,
            {
                "items": items,
                "next_after": after + len(items),  # seq == position, even for an item a test broke
                "has_more": after + len(items) < len(self._feed),
            },
        )

    def _add_note(self, request: Request, order_id: str) -> Response:
        order = self._orders.get(order_id)
        if order is None:
            return _error(404, "order_not_found", "no such work order")
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "invalid_json", "the body is not JSON", [])
        errors = _Errors()
        if not isinstance(body, dict):
            errors.add("body", "invalid", "must be a JSON object")
        else:
            if body.get("kind") is None:
                errors.add("kind", "missing", "is required")
            elif body["kind"] not in NOTE_KINDS:
                errors.add("kind", "invalid", f"must be one of {sorted(NOTE_KINDS)}")
            errors.text(body, "text", "text", required=True, max_len=4000)
            if body.get("at") is not None and _aware_timestamp(body["at"]) is None:
                errors.add("at", "invalid", "must be ISO 8601 with a UTC offset")
        if errors.items:
            return _error(422, "validation_failed", "the note is not valid", errors.items)
        key = request.headers.get("idempotency-key", "").strip()
        fingerprint = _fingerprint(body)
        if key and (order_id, key) in self._note_keys:
            first_fingerprint, note = self._note_keys[(order_id, key)]
            if first_fingerprint != fingerprint:
                return _error(409, "idempotency_key_reused", "this Idempotency-Key was used with a different note")
            return Response.json(200, note, {"Idempotent-Replayed": "true"})
        self._note_counter += 1
        note = {
            "id": f"N-{self._note_counter:06d}",
            "order_id": order_id,
            "kind": body["kind"],
            "text": body["text"],
            "at": body.get("at"),
            "created_at": _iso(self._now()),
        }
        if body["kind"] == "withdrawn" and order["status"] not in FINAL_STATUSES:
            self._append_change(order, "CANCELLED", "Заявку відкликано заявником (контакт-центр 1520)")
        elif body["kind"] == "rework" and order["status"] == "COMPLETED":
            self._append_change(order, "IN_PROGRESS", "Повернуто на доопрацювання контакт-центром 1520")
        note["order_status"] = order["status"]
        self._notes[order_id].append(note)
        if key:
            self._note_keys[(order_id, key)] = (fingerprint, note)
        return Response.json(201, note)

    def _planned_works(self, request: Request) -> Response:
        errors: list[dict[str, str]] = []
        bounds: dict[str, datetime] = {}
        for name in ("from", "to"):
            raw = request.arg(name)
            if raw:
                moment = _query_moment(raw)
                if moment is None:
                    errors.append({"field": name, "code": "invalid", "message": "must be ISO 8601 with an offset"})
                else:
                    bounds[name] = moment
        page_raw = request.arg("page") or "1"
        if not page_raw.isdigit() or int(page_raw) < 1:
            errors.append({"field": "page", "code": "invalid", "message": "must be an integer >= 1"})
        if errors:
            return _error(400, "bad_query", "bad planned-works parameters", errors)
        start = bounds.get("from") or self._now()
        end = bounds.get("to") or start + timedelta(days=31)
        if start >= end:
            errors = [{"field": "to", "code": "invalid", "message": "must be after from"}]
            return _error(400, "bad_query", "empty window", errors)
        page = int(page_raw)
        selected = [n for _, n in sorted(self._notices.items()) if self._overlaps(n, start, end)]
        pages = max(1, math.ceil(len(selected) / self.page_size))
        items = selected[(page - 1) * self.page_size : page * self.page_size]
        return Response.json(
            200,
            {
                "items": items,
                "page": page,
                "pages": pages,
                "total": len(selected),
                "next_page": page + 1 if page < pages else None,
            },
        )

    @staticmethod
    def _overlaps(notice: dict[str, Any], start: datetime, end: datetime) -> bool:
        starts_at = _aware_timestamp(notice.get("starts_at"))
        ends_at = _aware_timestamp(notice.get("ends_at"))
        if starts_at is None:  # a notice a test broke on purpose: always served, so clients see it
            return True
        return starts_at < end and (ends_at is None or ends_at > start)

    # state ----------------------------------------------------------------------------------------
    def _append_change(self, order: dict[str, Any], status: str, comment: str | None, crew: str | None = None) -> None:
        now = _iso(self._now())
        order["status"] = status
        order["updated_at"] = now
        order["comment"] = comment
        if crew:
            order["crew"] = crew
        self._feed.append(
            {
                "seq": len(self._feed) + 1,
                "order_id": order["id"],
                "external_ref": order["external_ref"],
                "status": status,
                "changed_at": now,
                "comment": comment,
                "crew": order["crew"],
            }
        )

    def _step(self, order: dict[str, Any]) -> None:
        status = order["status"]
        if status == "NEW":
            draw = self.random.random()
            if draw < self.reject_rate:
                nxt = "REJECTED_NOT_OURS"
            elif draw < self.reject_rate + self.duplicate_rate:
                nxt = "DUPLICATE"
            else:
                nxt = "ACCEPTED"
            self._append_change(order, nxt, COMMENTS[nxt])
        elif status == "ACCEPTED":
            crew = f"АВБ-{self.random.randint(1, 12)}"
            self._append_change(order, "CREW_ASSIGNED", f"{COMMENTS['CREW_ASSIGNED']} {crew}", crew)
        elif status == "CREW_ASSIGNED":
            nxt = "FALSE_CALL" if self.random.random() < self.false_call_rate else "IN_PROGRESS"
            self._append_change(order, nxt, COMMENTS[nxt])
        elif status == "IN_PROGRESS":
            self._append_change(order, "COMPLETED", COMMENTS["COMPLETED"])

    def connection_config(self) -> ConnectionConfig:
        return ConnectionConfig(conn_id="vodokanal_api", base_url=self.url, password=self.api_key)

    def jobs_by_reference(self) -> dict[str, list[str]]:
        with self.lock:
            found: dict[str, list[str]] = {}
            for order_id, order in sorted(self._orders.items()):
                found.setdefault(order["external_ref"], []).append(order_id)
            return found

    def advance(self, steps: int = 1) -> None:
        with self.lock:
            for _ in range(steps):
                for _, order in sorted(self._orders.items()):
                    if order["status"] not in FINAL_STATUSES:
                        self._step(order)

    def set_job_status(self, job_id: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown vodokanal status {status!r}; known: {sorted(STATUSES)}")
        with self.lock:
            order = self._orders[job_id]
            self._append_change(order, status, COMMENTS.get(status))

    def add_planned_work(self, **fields: Any) -> str:
        """A new notice; with no arguments a realistic planned cold-water stop tomorrow 09:00-17:00."""
        if unknown := set(fields) - NOTICE_FIELDS:
            raise ValueError(f"unknown notice fields {sorted(unknown)}; known: {sorted(NOTICE_FIELDS)}")
        with self.lock:
            now = self._now()
            start = datetime.combine(now.astimezone(KYIV).date() + timedelta(days=1), time(9), KYIV)
            street = self.random.choice(self._streets)
            first = self.random.randrange(2, 30, 2)
            side = self.random.choice(["even", "odd", None])
            notice: dict[str, Any] = {
                "id": f"PW-{len(self._notices) + 1:05d}",
                "version": 1,
                "kind": "planned",
                "service": "cold_water",
                "addresses": [{"street": street, "houses": {"from": first, "to": first + 16, "side": side}}],
                "starts_at": start,
                "ends_at": start + timedelta(hours=8),
                "reason": self.random.choice(REASONS),
                "tanker_location": f"{street}, {first} (біля першого під'їзду)",
                "contact_phone": HOTLINE,
                "households": self.random.randrange(40, 600),
                "state": "active",
                "published_at": now,
            }
            notice.update(fields)
            notice["updated_at"] = now
            self._notices[notice["id"]] = self._wire_notice(notice)
            return notice["id"]

    def revise_planned_work(self, notice_id: str, **changes: Any) -> None:
        """A new version; with no changes the works are extended by two hours (or given an end)."""
        if unknown := set(changes) - NOTICE_FIELDS:
            raise ValueError(f"unknown notice fields {sorted(unknown)}; known: {sorted(NOTICE_FIELDS)}")
        with self.lock:
            notice = dict(self._notices[notice_id])
            if not changes:
                ends_at = _aware_timestamp(notice.get("ends_at"))
                starts_at = _aware_timestamp(notice.get("starts_at")) or self._now()
                changes = {"ends_at": ends_at + timedelta(hours=2) if ends_at else starts_at + timedelta(hours=10)}
            notice.update(changes)
            notice["version"] += 1
            notice["updated_at"] = self._now()
            self._notices[notice_id] = self._wire_notice(notice)

    def cancel_planned_work(self, notice_id: str) -> None:
        with self.lock:
            notice = dict(self._notices[notice_id])
            notice.update(state="cancelled", version=notice["version"] + 1, updated_at=self._now())
            self._notices[notice_id] = self._wire_notice(notice)

    @staticmethod
    def _wire_notice(notice: dict[str, Any]) -> dict[str, Any]:
        return {k: _iso(v) if isinstance(v, datetime) else copy.deepcopy(v) for k, v in notice.items()}

    # extra state API for this utility's tests ------------------------------------------------------
    def notes(self, job_id: str) -> list[dict[str, Any]]:
        """Notes the utility received for an order, oldest first."""
        with self.lock:
            return copy.deepcopy(self._notes[job_id])

    def job_payload(self, job_id: str) -> dict[str, Any]:
        """The create body exactly as received (to check that only mapped resident data is sent)."""
        with self.lock:
            return copy.deepcopy(self._payloads[job_id])

    def job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._orders[job_id])

    def order_count(self) -> int:
        with self.lock:
            return len(self._orders)

    def last_seq(self) -> int:
        with self.lock:
            return len(self._feed)

    def inject_noisy_changes(self, job_ids: list[str], comment: str) -> None:
        now = _iso(self._now())
        self.inject_feed_item(order_id=job_ids[0], status="ACCEPTED", changed_at=now, comment=comment)
        self.inject_feed_item(order_id=job_ids[1], status="ON_HOLD", changed_at=now, comment=comment)

    def inject_feed_item(self, **fields: Any) -> int:
        """Append a feed item with the next seq and exactly these fields (for malformed-item tests)."""
        with self.lock:
            seq = len(self._feed) + 1
            self._feed.append({"seq": seq, **fields})
            return seq
