"""Simulator of ТОВ «Екоспецтранс»'s ticket API: REST/JSON behind OAuth2, strict about rate and shape.

A real HTTP server on loopback (see simulators/base.py) implementing the contract document
``contracts/ecospectrans.openapi.yaml``: every request and reply is validated against it
(``simulators.contract``). Where the contract leaves a detail open, this is what the utility does:

Auth
- ``POST /oauth/token`` takes ``grant_type=client_credentials`` form-encoded, with the client
  credentials either in HTTP Basic (RFC 6749 2.3.1, preferred; id and secret form-urlencoded before
  base64, as the RFC says) or as form fields ``client_id`` / ``client_secret``. 200
  ``{access_token, token_type: "Bearer", expires_in, scope}``; 400 ``invalid_request`` /
  ``unsupported_grant_type``; 401 ``invalid_client`` (RFC 6749 5.2 bodies).
- Tokens live ``token_lifetime`` seconds (300 by default); ``expire_tokens()`` kills all of them.
  A missing, unknown or expired bearer token: 401 with ``WWW-Authenticate: Bearer ...`` (RFC 6750).

Rate limit
- ``rate_limit`` requests (5) per client in any sliding ``rate_window`` (1 s), the token endpoint
  included. The client is the token's owner, or for the token endpoint the client id presented.
  Only admitted requests fill the window (a 429 does not), so a client that waits Retry-After gets in.
  Authentication comes first: a request with a bad token gets 401 and does not count.
- 429 answers alternate the two ``Retry-After`` forms: odd ones in seconds, even ones as an HTTP date.

Tickets
- ``POST /v2/tickets``: exactly one of ``site_id`` / ``address`` ({street, house}) is required for
  every category (a crew needs a place); ``PRIVATE_SCHEDULE_MISSED`` takes an address only (the private
  sector has no container sites). Unknown fields are refused (422), here and in ``address``: the API
  is strict and has no ``priority`` field — the category carries the urgency. ``reported_at`` must be
  ISO 8601 with an offset. Validation errors: 422 ``application/problem+json`` (RFC 7807) with
  ``invalid-params`` [{name, reason}]; an unreadable body: 400; not JSON: 415.
- Accepted: 202 ``{token, status: "accepted", status_url}`` and a ``Location`` header. The ticket
  appears ``creation_delay`` seconds later (0.3 s by default; ``None``: only when ``release_pending()``
  or ``advance()`` runs). ``GET /v2/tickets/by-token/{token}`` is 404 until then (also for a token
  never issued), then 200 with the ticket.
- A ``client_reference`` already used: 409 problem+json carrying ``ticket_id`` and the original
  ``token``. While the first submission is still pending ``ticket_id`` is null and only the token is
  given, so the client can wait for it instead of creating a second ticket. The check runs after
  validation and does not compare bodies.
- Lookup by reference (the contract has none): ``GET /v2/tickets?client_reference=...`` filters the
  list and ignores ``updated_since``/``cursor``; pending submissions are not tickets yet and are not
  listed (the 409 above covers the gap).
- The feed ``GET /v2/tickets?updated_since=&cursor=``: ``updated_since`` (ISO 8601 with an offset) is
  required; tickets with ``updated_at >= updated_since`` ordered by ``(updated_at, id)``, 100 a page.
  The answer is ``{tickets, next_cursor, has_more}``; ``next_cursor`` is always given when the page
  is not empty (the position after its last ticket), also on the last page, so a client can resume
  from it later; an empty page echoes the cursor it was given. The cursor is opaque (base64 JSON of
  the position and the query) and bound to its ``updated_since`` (another one: 400). A cursor older
  than ``cursor_lifetime`` seconds (None: never), or issued before ``expire_cursors()``, is refused
  with 410 problem+json ``cursor-expired``: the client asks again from an ``updated_since``. Every change
  stamps ``updated_at`` from a strictly increasing microsecond clock, so the keyset never skips a
  ticket. The feed shows each ticket's current state, not every transition.
- ``GET /v2/tickets/{id}`` exists too. ``POST /v2/tickets/{id}/comments`` takes ``{text, author?}``
  and answers 201 with the comment; comments never change a ticket's status or ``updated_at``.
- Statuses ``open -> scheduled -> collected -> closed``; side exits ``rejected`` (from open) and
  ``cannot_access`` (from scheduled), both final and carrying a ``status_reason``. ``advance()`` first
  completes every pending submission (a clock step is longer than the creation delay), then moves
  each unfinished ticket one step, choosing side exits with the seeded random.

Sites and schedule changes
- Container sites are seeded from the simulators' own copy of the city's streets: most
  streets have a site every 4–8 houses serving the houses up to the next one; lanes and a seeded ~15 %
  of streets are private sector without sites. ``GET /v2/sites?address=<street>, <house>`` returns
  the sites serving that house (the nearest first); without a house number, every site on the street.
- ``GET /v2/schedule-changes?from=YYYY-MM-DD&to=YYYY-MM-DD`` (Kyiv dates, both required) returns
  ``{schedule_changes: [...]}`` whose ``date`` or ``original_date`` falls in the range, cancelled ones
  included. Beyond the contract's fields each carries ``created_at`` (first publication) and
  ``reason_code`` (``holiday`` | ``breakdown`` | ``route_change`` | ``weather``). ``updated_at`` has
  second precision and every revision moves it on by at least a second.
- ``add_planned_work()`` with no arguments: a holiday move of today's collection to tomorrow in one
  district; ``revise_planned_work(id)`` without changes moves the new date one more day.

Faults: everything in simulators/base.py, plus ``x-rate-limit`` (429 now; params ``form`` =
``seconds`` | ``date`` and ``seconds``), ``x-unauthorized`` (401 whatever the token) and ``x-bad-item``
(one ticket of a feed page corrupted: params ``index`` (0), ``field`` ("status"), ``value``
("lost"; ``"__delete__"`` removes the field)), and ``x-late-reply`` (param ``seconds``: the request is
handled at once and answered that much later, a read timeout after the utility committed).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, unquote_plus
from zoneinfo import ZoneInfo

import yaml

from gateway.connections import ConnectionConfig
from simulators.base import BaseSimulator, Fault, Request, Response
from simulators.contract import OpenApiContract, Problem, enum

KYIV = ZoneInfo("Europe/Kyiv")
STREETS_FILE: Path = Path(__file__).resolve().parent / "data" / "streets.yaml"  # the simulators' own copy
# the vocabulary comes from the contract document
CATEGORIES: tuple[str, ...] = enum("ecospectrans", "Category")
STATUSES: tuple[str, ...] = enum("ecospectrans", "Status")
FINAL_STATUSES = frozenset({"closed", "cannot_access", "rejected"})
ADDRESS_ONLY_CATEGORIES = frozenset({"PRIVATE_SCHEDULE_MISSED"})  # the private sector has no container sites
# How the utility's own system matches a street: kind words dropped, case folded, apostrophes unified.
_STREET_KINDS = re.compile(
    r"^(?:вулиця|вул|проспект|просп|пр-т|провулок|пров|бульвар|бул|б-р|площа|пл|майдан|шосе|мікрорайон|мкр|м-н|"
    r"квартал|кв-л|узвіз|проїзд|набережна)(?:\.\s*|\s+)",
    re.IGNORECASE,
)
PAGE_SIZE = 100
PROBLEM_BASE = "https://api.ecospectrans.example/problems/"
TICKET_FIELDS = frozenset({"client_reference", "category", "site_id", "address", "description", "reported_at"})
ADDRESS_FIELDS = frozenset({"street", "house"})
COMMENT_FIELDS = frozenset({"text", "author"})

REASONS = {
    "holiday": "Перенесення вивезення у зв'язку зі святковим днем",
    "breakdown": "Несправність сміттєвоза, вивезення перенесено",
    "route_change": "Зміна маршруту сміттєвоза",
    "weather": "Несприятливі погодні умови",
}
CANNOT_ACCESS_REASONS = (
    "Проїзд до контейнерного майданчика заставлено автомобілями",
    "Шлагбаум зачинено, доступу до майданчика немає",
)
REJECTED_REASONS = (
    "Майданчик не обслуговується ТОВ «Екоспецтранс»",
    "Відходи не є побутовими: потрібен окремий договір",
)
SCHEDULE_FIELDS = frozenset({"district", "streets", "date", "original_date", "reason", "reason_code", "cancelled"})


def street_key(name: str) -> str:
    text = re.sub(r"\s+", " ", name.replace("ʼ", "'").replace("’", "'").replace("`", "'")).strip()
    return _STREET_KINDS.sub("", text).casefold().replace("-", " ").strip()


def street_kind(name: str) -> str | None:
    match = _STREET_KINDS.match(name.strip())
    return match.group(0).strip().rstrip(".").casefold() if match else None


def house_number(house: str) -> int | None:
    match = re.match(r"\s*(\d+)", house)
    return int(match.group(1)) if match else None


def _iso(moment: datetime) -> str:
    """UTC with a Z, as the utility writes it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(KYIV).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass
class _Ticket:
    id: str
    token: str
    payload: dict[str, Any]  # the body as received
    created_at: datetime
    updated_at: datetime
    status: str = "open"
    status_reason: str | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "token": self.token,
            "client_reference": self.payload["client_reference"],
            "category": self.payload["category"],
            "status": self.status,
            "status_reason": self.status_reason,
            "site_id": self.payload.get("site_id"),
            "address": self.payload.get("address"),
            "description": self.payload["description"],
            "reported_at": self.payload["reported_at"],
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass
class _Pending:
    token: str
    seq: int
    payload: dict[str, Any]
    ready_at: float | None  # monotonic; None: until released


@dataclass(frozen=True)
class _Site:
    id: str
    street: str
    house: int
    serves: tuple[int, int]  # first and last house number served
    district: str
    containers: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": {"street": self.street, "house": str(self.house)},
            "district": self.district,
            "serves_houses": {"from": self.serves[0], "to": self.serves[1]},
            "containers": [{"type": kind, "count": count} for kind, count in self.containers],
        }


@dataclass
class _ScheduleChange:
    id: str
    district: str
    streets: list[str]
    date: date
    original_date: date | None
    reason: str
    reason_code: str
    cancelled: bool
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "updated_at": _iso(self.updated_at),
            "created_at": _iso(self.created_at),
            "district": self.district,
            "streets": list(self.streets),
            "date": self.date.isoformat(),
            "original_date": self.original_date.isoformat() if self.original_date else None,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "cancelled": self.cancelled,
        }


@dataclass
class _Token:
    client_id: str
    expires_at: float  # monotonic


def _problem(status: int, kind: str, title: str, detail: str | None = None, **extra: Any) -> Response:
    body = {"type": PROBLEM_BASE + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(status, data, {"Content-Type": "application/problem+json; charset=utf-8"})


def _invalid(params: list[dict[str, str]]) -> Response:
    return _problem(
        422,
        "validation-error",
        "Your request parameters didn't validate.",
        f"{len(params)} parameter(s) did not validate",
        **{"invalid-params": params},
    )


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json(
        status, {"error": error, "error_description": description}, {"Cache-Control": "no-store", **(headers or {})}
    )


def _contract_refusal(problems: list[Problem]) -> Response:
    """A request the contract document refuses, answered as the API answers: problem+json."""
    if any(p.where == "media" for p in problems):
        return _problem(415, "unsupported-media-type", "Unsupported Media Type", "send application/json")
    params = [{"name": p.field, "reason": p.message} for p in problems]
    if any(p.where == "body" and p.code == "not_json" for p in problems):
        return _problem(400, "malformed-body", "Bad Request", "the body is not valid JSON")
    if all(p.where == "body" for p in problems):
        return _invalid(params)
    return _problem(400, "bad-request", "Bad Request", "; ".join(f"{p['name']}: {p['reason']}" for p in params),
                    **{"invalid-params": params})


class EcospectransSimulator(BaseSimulator):
    """ТОВ «Екоспецтранс» on loopback: OAuth2, 5 requests/s, asynchronous tickets, a keyset feed."""

    name = "ecospectrans"
    create_route = ("POST", "/v2/tickets")  # where a create arrives (for faults aimed at creates)
    fault_kinds = ("x-rate-limit", "x-unauthorized", "x-bad-item")  # its own faults (module docstring)
    contract_document = "ecospectrans.openapi.yaml"
    port_offset = 3  # on a stand (python -m simulators serve)
    routes: ClassVar[dict[str, tuple[str, str]]] = {
        "create": create_route, "feed": ("GET", "/v2/tickets"), "planned": ("GET", "/v2/schedule-changes"),
        "update": ("POST", "/comments")}

    def __init__(
        self,
        *,
        seed: int = 1520,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "gateway-1520",
        client_secret: str = "eco-secret-4c1f9e7a52d3",
        token_lifetime: float = 300.0,
        rate_limit: int | None = 5,
        rate_window: float = 1.0,
        creation_delay: float | None = 0.3,
        page_size: int = PAGE_SIZE,
        cursor_lifetime: float | None = None,
    ) -> None:
        super().__init__(seed=seed, host=host, port=port)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.creation_delay = creation_delay
        self.page_size = page_size
        self.cursor_lifetime = cursor_lifetime
        self._cursor_epoch = 0  # a cursor issued in an earlier epoch has expired (expire_cursors)
        self.feed_queries: list[tuple[str, bool, int]] = []  # (updated_since, with a cursor, HTTP status)
        self._clients = {client_id: client_secret}
        self._token_random = random.Random(f"{seed}-tokens")
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, deque[float]] = {}
        self._tickets: dict[str, _Ticket] = {}
        self._pending: dict[str, _Pending] = {}
        self._by_reference: dict[str, str] = {}  # client_reference -> creation token
        self._ticket_by_token: dict[str, str] = {}
        self._schedule: dict[str, _ScheduleChange] = {}
        self._seq = 0
        self._last_stamp = datetime.fromtimestamp(0, UTC)
        self._last_schedule_stamp = datetime.fromtimestamp(0, UTC)
        self.counters: Counter[str] = Counter()  # tokens_issued, unauthorized, rate_limited, 429_seconds, 429_date
        self._streets = self._load_streets()
        self.contract = OpenApiContract("ecospectrans")
        self._sites = self._seed_sites(random.Random(f"{seed}-sites"))

    # data ------------------------------------------------------------------------------------------
    @staticmethod
    def _load_streets() -> list[dict[str, Any]]:
        with STREETS_FILE.open(encoding="utf-8") as handle:
            return [dict(row) for row in yaml.safe_load(handle)]

    def _seed_sites(self, rng: random.Random) -> list[_Site]:
        sites: list[_Site] = []
        for row in self._streets:
            if street_kind(row["street"]) in ("пров", "провулок") or rng.random() < 0.15:
                continue  # private sector: bags collected at the gate, no container sites
            last = int(row["houses"])
            house = rng.randint(1, 3)
            while house <= last:
                step = rng.randint(4, 8)
                containers = [("euro_1100l", rng.randint(2, 6))]
                if rng.random() < 0.3:
                    containers.append(("bulky_8m3", 1))
                sites.append(
                    _Site(
                        id=f"S-{len(sites) + 1:04d}",
                        street=row["street"],
                        house=house,
                        serves=(1 if not sites or sites[-1].street != row["street"] else house, house + step - 1),
                        district=row["district"],
                        containers=tuple(containers),
                    )
                )
                house += step
        return sites

    # clocks and ids ----------------------------------------------------------------------------------
    def _ticket_stamp(self) -> datetime:
        now = datetime.now(UTC)
        self._last_stamp = max(now, self._last_stamp + timedelta(microseconds=1))
        return self._last_stamp

    def _schedule_stamp(self) -> datetime:
        now = datetime.now(UTC).replace(microsecond=0)
        self._last_schedule_stamp = max(now, self._last_schedule_stamp + timedelta(seconds=1))
        return self._last_schedule_stamp

    def _random_hex(self, length: int) -> str:
        return "".join(self._token_random.choice("0123456789abcdef") for _ in range(length))

    # HTTP ------------------------------------------------------------------------------------------
    def dispatch(self, request: Request, fault: Fault | None) -> Response:
        if fault and fault.kind == "x-late-reply":  # committed at once, answered after the client gave up
            response = self.dispatch(request, None)
            time.sleep(float(fault.params.get("seconds", 1.0)))
            return response
        with self.lock:
            self._materialize_due()
            if request.path == "/oauth/token":
                if request.method != "POST":
                    return _problem(405, "method-not-allowed", "Method Not Allowed")
                return self._token_endpoint(request)
            client, denied = self._authenticate(request)
            if denied is not None:
                return denied
            if fault and fault.kind == "x-unauthorized":
                return self._unauthorized("invalid_token", "The access token is invalid")
            if fault and fault.kind == "x-rate-limit":
                return self._too_many(float(fault.params.get("seconds", 2)), fault.params.get("form"))
            limited = self._admit(client)
            if limited is not None:
                return limited
            if problems := self.contract.check_request(request):
                return _contract_refusal(problems)
            return self._route(request, fault)

    def _route(self, request: Request, fault: Fault | None) -> Response:
        routes: list[tuple[str, str, Any]] = [
            (r"/v2/tickets", "POST", lambda _: self._create_ticket(request)),
            (r"/v2/tickets", "GET", lambda _: self._list_tickets(request, fault)),
            (r"/v2/tickets/by-token/(?P<arg>[^/]+)", "GET", self._ticket_by_creation_token),
            (r"/v2/tickets/(?P<arg>[^/]+)/comments", "POST", lambda arg: self._add_comment(arg, request)),
            (r"/v2/tickets/(?P<arg>[^/]+)", "GET", self._get_ticket),
            (r"/v2/sites", "GET", lambda _: self._find_sites(request)),
            (r"/v2/schedule-changes", "GET", lambda _: self._schedule_changes(request)),
        ]
        allowed: set[str] = set()
        for pattern, method, handler in routes:
            match = re.fullmatch(pattern, request.path)
            if not match:
                continue
            if method != request.method:
                allowed.add(method)
                continue
            return handler(unquote(match.groupdict().get("arg") or ""))
        if allowed:
            response = _problem(405, "method-not-allowed", "Method Not Allowed")
            response.headers["Allow"] = ", ".join(sorted(allowed))
            return response
        return _problem(404, "not-found", "Not Found", f"no resource at {request.path}")

    # auth and rate -----------------------------------------------------------------------------------
    def _token_endpoint(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
                client_id, _, secret = decoded.partition(":")
                client_id, secret = unquote_plus(client_id), unquote_plus(secret)
            except (binascii.Error, UnicodeDecodeError):
                return _oauth_error(400, "invalid_request", "Malformed Basic credentials")
        limited = self._admit(client_id or "anonymous")
        if limited is not None:
            return limited
        if problems := self.contract.check_request(request):
            wrong = "; ".join(f"{p.field}: {p.message}" for p in problems)
            return _oauth_error(400, "invalid_request", f"The request does not follow the API: {wrong}")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _oauth_error(400, "invalid_request", "Expected application/x-www-form-urlencoded")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
        if not client_id or self._clients.get(client_id) != secret:
            self.counters["unauthorized"] += 1
            challenge = {"WWW-Authenticate": 'Basic realm="ecospectrans"'}
            return _oauth_error(401, "invalid_client", "Client authentication failed", challenge)
        token = "eco." + self._random_hex(40)
        self._tokens[token] = _Token(client_id, time.monotonic() + self.token_lifetime)
        self.counters["tokens_issued"] += 1
        lifetime = self.token_lifetime
        expires_in: float = int(lifetime) if float(lifetime).is_integer() else lifetime
        return Response.json(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "tickets schedule"},
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _unauthorized(self, error: str | None, description: str) -> Response:
        self.counters["unauthorized"] += 1
        challenge = 'Bearer realm="ecospectrans"'
        if error:
            challenge += f', error="{error}", error_description="{description}"'
        body = {"error": error or "unauthorized", "error_description": description}
        return Response.json(401, body, {"WWW-Authenticate": challenge})

    def _authenticate(self, request: Request) -> tuple[str, Response | None]:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return "", self._unauthorized(None, "A bearer token is required")
        record = self._tokens.get(header[7:].strip())
        if record is None:
            return "", self._unauthorized("invalid_token", "The access token is unknown")
        if record.expires_at <= time.monotonic():
            return "", self._unauthorized("invalid_token", "The access token expired")
        return record.client_id, None

    def _admit(self, client: str) -> Response | None:
        """Sliding-window log: admit while fewer than ``rate_limit`` admitted in the last window."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        window = self._windows.setdefault(client, deque())
        while window and now - window[0] >= self.rate_window:
            window.popleft()
        if len(window) < self.rate_limit:
            window.append(now)
            return None
        return self._too_many(window[0] + self.rate_window - now)

    def _too_many(self, wait: float, form: str | None = None) -> Response:
        self.counters["rate_limited"] += 1
        if form is None:
            form = "seconds" if self.counters["rate_limited"] % 2 == 1 else "date"
        if form == "date":
            value = formatdate(math.ceil(time.time() + wait), usegmt=True)
        else:
            value = str(max(1, math.ceil(wait)))
        self.counters[f"429_{form}"] += 1
        response = _problem(
            429, "rate-limited", "Too Many Requests", f"at most {self.rate_limit} requests per second per client"
        )
        response.headers["Retry-After"] = value
        return response

    # tickets ---------------------------------------------------------------------------------------
    def _validate_ticket(self, body: Any) -> list[dict[str, str]]:
        if not isinstance(body, dict):
            return [{"name": "(body)", "reason": "must be a JSON object"}]
        problems = [{"name": name, "reason": "unknown field"} for name in sorted(set(body) - TICKET_FIELDS)]
        ref = body.get("client_reference")
        if not isinstance(ref, str) or not 1 <= len(ref.strip()) <= 64:
            problems.append({"name": "client_reference", "reason": "is required: a string of 1-64 characters"})
        category = body.get("category")
        if category not in CATEGORIES:
            expected = ", ".join(CATEGORIES)
            problems.append({"name": "category", "reason": f"unknown category; expected one of {expected}"})
        has_site, has_address = body.get("site_id") is not None, body.get("address") is not None
        if not has_site and not has_address:
            problems.append({"name": "site_id", "reason": "site_id or address is required"})
        elif has_site and has_address:
            problems.append({"name": "site_id", "reason": "give site_id or address, not both"})
        elif has_site:
            site_id = body["site_id"]
            if not isinstance(site_id, str) or not any(s.id == site_id for s in self._sites):
                problems.append({"name": "site_id", "reason": "no such container site"})
            elif category in ADDRESS_ONLY_CATEGORIES:
                reason = "private-sector collection has no container site; give the address"
                problems.append({"name": "site_id", "reason": reason})
        else:
            problems.extend(self._validate_address(body["address"]))
        description = body.get("description")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 2000:
            problems.append({"name": "description", "reason": "is required: a string of 1-2000 characters"})
        if _parse_instant(body.get("reported_at")) is None:
            problems.append({"name": "reported_at", "reason": "must be an ISO 8601 date-time with a UTC offset"})
        return problems

    @staticmethod
    def _validate_address(address: Any) -> list[dict[str, str]]:
        if not isinstance(address, dict):
            return [{"name": "address", "reason": "must be an object {street, house}"}]
        problems = [{"name": f"address.{k}", "reason": "unknown field"} for k in sorted(set(address) - ADDRESS_FIELDS)]
        for key in ("street", "house"):
            value = address.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append({"name": f"address.{key}", "reason": "is required: a non-empty string"})
        return problems

    def _create_ticket(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _problem(415, "unsupported-media-type", "Unsupported Media Type", "send application/json")
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "malformed-body", "Bad Request", "the body is not valid JSON")
        if problems := self._validate_ticket(body):
            return _invalid(problems)
        reference = body["client_reference"]
        if reference in self._by_reference:
            token = self._by_reference[reference]
            ticket_id = self._ticket_by_token.get(token)
            return _problem(
                409,
                "duplicate-client-reference",
                "client_reference already used",
                f"a ticket for {reference!r} already exists" if ticket_id else f"{reference!r} is being created",
                ticket_id=ticket_id,
                token=token,
            )
        self._seq += 1
        token = "tkn_" + self._random_hex(24)
        ready_at = None if self.creation_delay is None else time.monotonic() + self.creation_delay
        self._pending[token] = _Pending(token, self._seq, body, ready_at)
        self._by_reference[reference] = token
        status_url = f"/v2/tickets/by-token/{token}"
        answer = {"token": token, "status": "accepted", "status_url": status_url}
        return Response.json(202, answer, {"Location": status_url})

    def _materialize_due(self, everything: bool = False) -> None:
        now = time.monotonic()
        due = [p for p in self._pending.values() if everything or (p.ready_at is not None and p.ready_at <= now)]
        for pending in sorted(due, key=lambda p: p.seq):
            stamp = self._ticket_stamp()
            ticket_id = f"ECO-{len(self._tickets) + 1:06d}"
            self._tickets[ticket_id] = _Ticket(ticket_id, pending.token, pending.payload, stamp, stamp)
            self._ticket_by_token[pending.token] = ticket_id
            del self._pending[pending.token]

    def _ticket_by_creation_token(self, token: str) -> Response:
        ticket_id = self._ticket_by_token.get(token)
        if ticket_id is None:
            detail = "the ticket is still being created" if token in self._pending else "no ticket for this token"
            return _problem(404, "not-found", "Not Found", detail)
        return Response.json(200, self._tickets[ticket_id].to_json())

    def _get_ticket(self, ticket_id: str) -> Response:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            return _problem(404, "not-found", "Not Found", f"no ticket {ticket_id}")
        return Response.json(200, ticket.to_json())

    def _list_tickets(self, request: Request, fault: Fault | None) -> Response:
        reference = request.arg("client_reference")
        if reference is not None:
            found = [
                t.to_json()
                for t in sorted(self._tickets.values(), key=lambda t: t.id)
                if t.payload["client_reference"] == reference
            ]
            return Response.json(200, {"tickets": found, "next_cursor": None, "has_more": False})
        since_raw = request.arg("updated_since")
        since = _parse_instant(since_raw)
        if since is None:
            reason = "is required" if not since_raw else "must be an ISO 8601 date-time with a UTC offset"
            return _invalid([{"name": "updated_since", "reason": reason}])
        cursor_raw = request.arg("cursor") or None
        after: tuple[datetime, str] | None = None
        if cursor_raw:
            position = self._decode_cursor(cursor_raw)
            if position is None or position["s"] != _iso(since):
                return self._feed_answer(since_raw, True, _problem(
                    400, "invalid-cursor", "Bad Request", "the cursor does not belong to this query"))
            if self._cursor_expired(position):
                return self._feed_answer(since_raw, True, _problem(
                    410, "cursor-expired", "Gone", "the cursor has expired; query again from updated_since"))
            after = (datetime.fromisoformat(position["u"]), position["i"])
        candidates = sorted(
            (
                t
                for t in self._tickets.values()
                if t.updated_at >= since and (after is None or (t.updated_at, t.id) > after)
            ),
            key=lambda t: (t.updated_at, t.id),
        )
        page = candidates[: self.page_size]
        next_cursor = self._encode_cursor(since, page[-1]) if page else cursor_raw
        items = [t.to_json() for t in page]
        if fault and fault.kind == "x-bad-item" and items:
            index = min(int(fault.params.get("index", 0)), len(items) - 1)
            name, value = str(fault.params.get("field", "status")), fault.params.get("value", "lost")
            if value == "__delete__":
                items[index].pop(name, None)
            else:
                items[index][name] = value
        return self._feed_answer(since_raw, cursor_raw is not None, Response.json(
            200, {"tickets": items, "next_cursor": next_cursor, "has_more": len(candidates) > len(page)}
        ))

    def _feed_answer(self, since_raw: str, with_cursor: bool, response: Response) -> Response:
        self.feed_queries.append((since_raw, with_cursor, response.status))
        return response

    def _cursor_expired(self, position: dict[str, Any]) -> bool:
        if int(position.get("e", 0)) < self._cursor_epoch:
            return True
        return self.cursor_lifetime is not None and time.time() - float(position.get("t", 0)) > self.cursor_lifetime

    def _encode_cursor(self, since: datetime, ticket: _Ticket) -> str:
        raw = json.dumps({"s": _iso(since), "u": ticket.updated_at.isoformat(), "i": ticket.id,
                          "e": self._cursor_epoch, "t": round(time.time(), 3)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(text: str) -> dict[str, str] | None:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            position = json.loads(raw)
            datetime.fromisoformat(position["u"])
            return {"s": str(position["s"]), "u": str(position["u"]), "i": str(position["i"]),
                    "e": int(position.get("e", 0)), "t": float(position.get("t", 0))}
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            return None

    def _add_comment(self, ticket_id: str, request: Request) -> Response:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            return _problem(404, "not-found", "Not Found", f"no ticket {ticket_id}")
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "malformed-body", "Bad Request", "the body is not valid JSON")
        if not isinstance(body, dict):
            return _invalid([{"name": "(body)", "reason": "must be a JSON object"}])
        problems = [{"name": k, "reason": "unknown field"} for k in sorted(set(body) - COMMENT_FIELDS)]
        text = body.get("text")
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= 4000:
            problems.append({"name": "text", "reason": "is required: a string of 1-4000 characters"})
        if body.get("author") is not None and not isinstance(body["author"], str):
            problems.append({"name": "author", "reason": "must be a string"})
        if problems:
            return _invalid(problems)
        comment = {
            "id": f"C-{sum(len(t.comments) for t in self._tickets.values()) + 1:06d}",
            "ticket_id": ticket_id,
            "text": text,
            "author": body.get("author"),
            "created_at": _iso(datetime.now(UTC)),
        }
        ticket.comments.append(comment)
        return Response.json(201, comment)

    # sites and schedule changes ------------------------------------------------------------------------
    def sites_at(self, street: str, house: str | None = None) -> list[dict[str, Any]]:
        """Container sites serving an address, the nearest first (what GET /v2/sites answers)."""
        key = street_key(street)
        number = house_number(house) if house else None
        found = [s for s in self._sites if street_key(s.street) == key]
        if house is not None:
            if number is None:
                return []
            found = [s for s in found if s.serves[0] <= number <= s.serves[1]]
            found.sort(key=lambda s: abs(s.house - number))
        return [s.to_json() for s in found]

    def _find_sites(self, request: Request) -> Response:
        text = (request.arg("address") or "").strip()
        if not text:
            return _invalid([{"name": "address", "reason": "is required: '<street>, <house>'"}])
        street, _, house = text.rpartition(",")
        if not street:
            match = re.fullmatch(r"(?P<street>.+?)\s+(?P<house>\d+\S*)", text)
            street, house = (match["street"], match["house"]) if match else (text, "")
        sites = self.sites_at(street.strip(), house.strip() or None)
        return Response.json(200, {"sites": sites})

    def _schedule_changes(self, request: Request) -> Response:
        bounds: dict[str, date] = {}
        problems = []
        for name in ("from", "to"):
            try:
                bounds[name] = date.fromisoformat(request.arg(name) or "")
            except ValueError:
                problems.append({"name": name, "reason": "is required: a date YYYY-MM-DD"})
        if not problems and bounds["from"] > bounds["to"]:
            problems.append({"name": "to", "reason": "must not be before from"})
        if problems:
            return _invalid(problems)
        low, high = bounds["from"], bounds["to"]
        found = [
            c.to_json()
            for c in sorted(self._schedule.values(), key=lambda c: (c.date, c.id))
            if low <= c.date <= high or (c.original_date is not None and low <= c.original_date <= high)
        ]
        return Response.json(200, {"schedule_changes": found})

    # the state API -------------------------------------------------------------------------------------
    def connection_config(self) -> ConnectionConfig:
        extra: dict[str, Any] = {"rate_limit": self.rate_limit} if self.rate_limit is not None else {}
        return ConnectionConfig(
            conn_id="ecospectrans_api",
            base_url=self.url,
            login=self.client_id,
            password=self.client_secret,
            extra=extra,
        )

    def jobs_by_reference(self) -> dict[str, list[str]]:
        with self.lock:
            self._materialize_due()
            found: dict[str, list[str]] = {}
            for ticket in sorted(self._tickets.values(), key=lambda t: t.id):
                found.setdefault(ticket.payload["client_reference"], []).append(ticket.id)
            return found

    def advance(self, steps: int = 1) -> None:
        with self.lock:
            self._materialize_due(everything=True)
            for _ in range(steps):
                for ticket in sorted(self._tickets.values(), key=lambda t: t.id):
                    if ticket.status in FINAL_STATUSES:
                        continue
                    roll = self.random.random()
                    if ticket.status == "open":
                        self._move(ticket, "rejected" if roll < 0.08 else "scheduled")
                    elif ticket.status == "scheduled":
                        self._move(ticket, "cannot_access" if roll < 0.1 else "collected")
                    elif ticket.status == "collected":
                        self._move(ticket, "closed")

    def _move(self, ticket: _Ticket, status: str) -> None:
        ticket.status = status
        reasons = {"cannot_access": CANNOT_ACCESS_REASONS, "rejected": REJECTED_REASONS}.get(status)
        ticket.status_reason = self.random.choice(reasons) if reasons else None
        ticket.updated_at = self._ticket_stamp()

    def set_job_status(self, job_id: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; known: {STATUSES}")
        with self.lock:
            self._materialize_due()
            self._move(self._tickets[job_id], status)

    def add_planned_work(self, **fields: Any) -> str:
        """A schedule change; with no arguments today's collection in one district moves to tomorrow."""
        if unknown := set(fields) - SCHEDULE_FIELDS:
            raise TypeError(f"unknown schedule-change fields: {sorted(unknown)}")
        with self.lock:
            today = datetime.now(KYIV).date()
            streets = fields.get("streets")
            district = fields.get("district")
            if district is None:
                by_street = {r["street"]: r["district"] for r in self._streets}
                district = by_street.get(streets[0]) if streets else None
                district = district or self.random.choice(sorted({r["district"] for r in self._streets}))
            if streets is None:
                pool = sorted(r["street"] for r in self._streets if r["district"] == district)
                streets = self.random.sample(pool, min(len(pool), self.random.randint(2, 4))) if pool else []
            reason_code = fields.get("reason_code", "holiday")
            original = fields.get("original_date", today)
            stamp = self._schedule_stamp()
            change = _ScheduleChange(
                id=f"SC-{len(self._schedule) + 1:05d}",
                district=str(district),
                streets=[str(s) for s in streets],
                date=_as_date(fields.get("date", today + timedelta(days=1))),
                original_date=_as_date(original) if original is not None else None,
                reason=str(fields.get("reason") or REASONS.get(reason_code, REASONS["holiday"])),
                reason_code=str(reason_code),
                cancelled=bool(fields.get("cancelled", False)),
                created_at=stamp,
                updated_at=stamp,
            )
            self._schedule[change.id] = change
            return change.id

    def revise_planned_work(self, notice_id: str, **changes: Any) -> None:
        """A new revision; with no changes the collection moves one more day."""
        if unknown := set(changes) - SCHEDULE_FIELDS:
            raise TypeError(f"unknown schedule-change fields: {sorted(unknown)}")
        with self.lock:
            change = self._schedule[notice_id]
            if not changes:
                changes = {"date": change.date + timedelta(days=1)}
            for name, value in changes.items():
                if name in ("date", "original_date"):
                    value = _as_date(value) if value is not None else None
                elif name == "streets":
                    value = [str(s) for s in value]
                setattr(change, name, value)
            if "reason_code" in changes and "reason" not in changes:
                change.reason = REASONS.get(change.reason_code, change.reason)
            change.updated_at = self._schedule_stamp()

    def cancel_planned_work(self, notice_id: str) -> None:
        with self.lock:
            change = self._schedule[notice_id]
            change.cancelled = True
            change.updated_at = self._schedule_stamp()

    # extras for tests and the demo ------------------------------------------------------------------
    def add_ticket(self, **fields: Any) -> str:
        """A ticket created directly (as if another channel had made it); returns its id."""
        with self.lock:
            self._materialize_due()
            row = self._streets[len(self._tickets) % len(self._streets)]
            number = len(self._tickets) + 1
            payload = {
                "client_reference": f"SIM-{number:06d}",
                "category": "BULKY_WASTE",
                "address": {"street": row["street"], "house": str(1 + number % int(row["houses"]))},
                "description": "Біля контейнерного майданчика складено старі меблі",
                "reported_at": _iso(datetime.now(UTC)),
                **fields,
            }
            if problems := self._validate_ticket(payload):
                raise ValueError(f"invalid ticket: {problems}")
            if payload["client_reference"] in self._by_reference:
                raise ValueError(f"client_reference {payload['client_reference']!r} already used")
            self._seq += 1
            token = "tkn_" + self._random_hex(24)
            self._pending[token] = _Pending(token, self._seq, payload, 0.0)
            self._by_reference[payload["client_reference"]] = token
            self._materialize_due()
            return self._ticket_by_token[token]

    def release_pending(self) -> None:
        """Finish every pending submission now."""
        with self.lock:
            self._materialize_due(everything=True)

    def expire_cursors(self) -> None:
        """Every feed cursor issued so far expires now (the next page asked with one gets 410)."""
        with self.lock:
            self._cursor_epoch += 1

    def expire_tokens(self) -> None:
        """Every issued token expires now (the next call with one gets 401)."""
        with self.lock:
            for record in self._tokens.values():
                record.expires_at = float("-inf")

    def inject_noisy_changes(self, job_ids: list[str], comment: str) -> None:
        """The next feed page's first item gets an unknown status (``comment`` is not needed here)."""
        self.faults.inject("x-bad-item", method="GET", path="/v2/tickets", index=0, field="status", value="on_hold")

    def issued_tokens(self) -> list[str]:
        with self.lock:
            return list(self._tokens)

    def comments(self, ticket_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self._tickets[ticket_id].comments]

    def job_payload(self, ticket_id: str) -> dict[str, Any]:
        """The ticket body exactly as the client sent it."""
        with self.lock:
            self._materialize_due()
            return json.loads(json.dumps(self._tickets[ticket_id].payload))

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        with self.lock:
            return self._tickets[ticket_id].to_json()

    def schedule_change(self, notice_id: str) -> dict[str, Any]:
        with self.lock:
            return self._schedule[notice_id].to_json()

    def ticket_count(self) -> int:
        with self.lock:
            self._materialize_due()
            return len(self._tickets)

    def pending_count(self) -> int:
        with self.lock:
            self._materialize_due()
            return len(self._pending)

    def rate_limited_count(self) -> int:
        """How many 429s the simulator has sent."""
        return self.counters["rate_limited"]

    def token_requests(self) -> int:
        """How many requests reached the token endpoint."""
        return sum(1 for _, method, path in list(self.request_log) if path == "/oauth/token")
