"""Simulator of ТОВ «СІТІСЕРВІС-КР»'s building-upkeep requests API (REST/JSON, HTTP Basic).

A real HTTP server on loopback (see ``simulators.base``). The contract is the OpenAPI document
``contracts/cityservice.openapi.yaml``: every request and reply is validated against it
(``simulators.contract``). The choices it leaves open, which the connector and its tests rely on:

Auth and errors
- HTTP Basic, compared in constant time; wrong or missing: 401 ``{"error": "unauthorized"}``, checked
  before routing. The custom fault ``x-throttle`` answers 429 ``rate_limited`` with ``Retry-After``
  (param ``retry_after``, default ``"2"``) before auth and before handling: nothing is changed.
- Error bodies: ``{"error", "detail", "errors": [{"field", "code", "message"}]}``; 400 for parameters
  or a body that is not JSON, 422 for a body the document refuses, 404 ``request_not_found``.

Requests
- Ids are ``CS-00001``, ``CS-00002``... in creation order; a new request starts «прийнято».
- A create whose ``our_number`` is known is answered 409 ``{"error": "already_exists", "id": ...}``
  and changes nothing (the utility's only protection against doubles: there is no idempotency key).
- Comments (``POST /api/requests/{id}/comments``) are recorded every time they arrive, repeats too;
  they do not change the status nor ``modified_at``.

The list
- ``GET /api/requests?modified_after=...&page=n``: requests with ``modified_at`` strictly after the
  instant, ordered by (``modified_at``, id), ``page_size`` (50, as the utility serves; tests lower it
  to get many pages from few requests) a page. Current state only. Timestamps are Kyiv local time
  with whole seconds: everything that happens within one second shares its timestamp.

Clock and randomness
- ``clock`` (a callable returning an aware datetime) lets tests hold time still, so that many changes
  share one second and ties straddle page borders; the default is the wall clock.
- ``advance()`` walks open requests in id order with a seeded ``random.Random``: «прийнято» ->
  «в роботі» (``reject_rate`` to «відхилено») -> «виконано».
- No planned works: ``add_planned_work`` and its kin raise NotImplementedError (the base's).
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from gateway.connections import ConnectionConfig
from simulators.base import BaseSimulator, Fault, FaultPlan, Request, Response
from simulators.contract import OpenApiContract, Problem, enum

KYIV = ZoneInfo("Europe/Kyiv")
STATUSES = frozenset(enum("cityservice", "Status"))
ACCEPTED, IN_WORK, DONE, REFUSED = "прийнято", "в роботі", "виконано", "відхилено"
FINAL = frozenset({DONE, REFUSED})
PAGE_SIZE = 50
COMMENTS = {
    IN_WORK: "Майстер дільниці прийняв заявку в роботу",
    DONE: "Роботи виконано, акт підписано",
    REFUSED: "Будинок не обслуговується ТОВ «СІТІСЕРВІС-КР»",
}


def _error(status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> Response:
    return Response.json(status, {"error": code, "detail": detail, **({"errors": errors} if errors else {}), **extra})


def _refusal(request: Request, problems: list[Problem]) -> Response:
    """A request the contract document refuses, in the API's own error format."""
    wire = [{"field": p.field, "code": p.code, "message": p.message} for p in problems]
    if any(p.where != "body" for p in problems):
        return _error(400, "bad_request", "bad request parameters", wire)
    try:
        json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid_json", "the body is not JSON")
    return _error(422, "validation_failed", "the request body is not valid", wire)


class CityserviceSimulator(BaseSimulator):
    """ТОВ «СІТІСЕРВІС-КР»: requests deduplicated by our_number, a page-number list, comments."""

    name = "cityservice"
    create_route = ("POST", "/api/requests")
    fault_kinds = ("x-throttle",)  # its own faults (module docstring)
    contract_document = "cityservice.openapi.yaml"
    port_offset = 4  # on a stand (python -m simulators serve)
    planned_works = False
    routes: ClassVar[dict[str, tuple[str, str]]] = {
        "create": create_route, "feed": ("GET", "/api/requests"), "update": ("POST", "/comments")}

    def __init__(self, *, login: str = "cc1520", password: str = "cs-test-secret", seed: int = 1520,
                 host: str = "127.0.0.1", port: int = 0, clock: Callable[[], datetime] | None = None,
                 reject_rate: float = 0.08, page_size: int = PAGE_SIZE) -> None:
        super().__init__(seed=seed, host=host, port=port)
        self.login, self.password = login, password
        self._now = clock or (lambda: datetime.now(KYIV))
        self.reject_rate = reject_rate
        self.page_size = page_size
        self._requests: dict[str, dict[str, Any]] = {}
        self._payloads: dict[str, Any] = {}
        self._by_number: dict[str, str] = {}
        self._comments: dict[str, list[dict[str, Any]]] = {}
        self._comment_counter = 0
        self.contract = OpenApiContract("cityservice")

    def reset(self) -> None:
        """Forget everything and reseed, as if just constructed."""
        with self.lock:
            self.random.seed(self.seed)
            self.faults = FaultPlan(self.seed)
            for store in (self._requests, self._payloads, self._by_number, self._comments):
                store.clear()
            self._comment_counter = 0

    def _stamp(self) -> str:
        return self._now().astimezone(KYIV).isoformat(timespec="seconds")

    # HTTP -----------------------------------------------------------------------------------------
    def dispatch(self, request: Request, fault: Fault | None) -> Response:
        if fault and fault.kind == "x-throttle":
            response = _error(429, "rate_limited", "too many requests; nothing was changed")
            response.headers["Retry-After"] = str(fault.params.get("retry_after", "2"))
            return response
        expected = "Basic " + base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected.encode()):
            return _error(401, "unauthorized", "missing or wrong credentials")
        if problems := self.contract.check_request(request):
            return _refusal(request, problems)
        path = request.path.rstrip("/")
        with self.lock:
            if path == "/api/requests":
                return self._route(request, GET=self._list, POST=self._create)
            if match := re.fullmatch(r"/api/requests/([^/]+)/comments", path):
                return self._route(request, POST=lambda r: self._comment(r, match.group(1)))
            if match := re.fullmatch(r"/api/requests/([^/]+)", path):
                return self._route(request, GET=lambda r: self._get(match.group(1)))
        return _error(404, "no_route", "no such endpoint")

    @staticmethod
    def _route(request: Request, **handlers: Callable[[Request], Response]) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return _error(405, "method_not_allowed", f"allowed: {', '.join(sorted(handlers))}")
        return handler(request)

    def _create(self, request: Request) -> Response:
        body = request.json()
        if (existing := self._by_number.get(body["our_number"])) is not None:
            return _error(409, "already_exists", "a request with this our_number exists", id=existing)
        request_id = f"CS-{len(self._requests) + 1:05d}"
        now = self._stamp()
        self._requests[request_id] = {
            "id": request_id, "our_number": body["our_number"], "type": body["type"], "address": body["address"],
            "description": body["description"], "status": ACCEPTED, "comment": None, "created_at": now,
            "modified_at": now,
        }
        self._payloads[request_id] = copy.deepcopy(body)
        self._by_number[body["our_number"]] = request_id
        self._comments[request_id] = []
        return Response.json(201, self._requests[request_id], {"Location": f"/api/requests/{request_id}"})

    def _get(self, request_id: str) -> Response:
        found = self._requests.get(request_id)
        return Response.json(200, found) if found else _error(404, "request_not_found", "no such request")

    def _list(self, request: Request) -> Response:
        after = datetime.fromisoformat(request.arg("modified_after") or "")
        page = int(request.arg("page") or 1)
        matching = sorted((r for r in self._requests.values() if datetime.fromisoformat(r["modified_at"]) > after),
                          key=lambda r: (datetime.fromisoformat(r["modified_at"]), r["id"]))
        start = (page - 1) * self.page_size
        more = start + self.page_size < len(matching)
        return Response.json(200, {"items": matching[start:start + self.page_size], "page": page,
                                   "per_page": self.page_size, "next_page": page + 1 if more else None})

    def _comment(self, request: Request, request_id: str) -> Response:
        if request_id not in self._requests:
            return _error(404, "request_not_found", "no such request")
        self._comment_counter += 1
        comment = {"id": f"CM-{self._comment_counter:06d}", "request_id": request_id,
                   "text": request.json()["text"], "created_at": self._stamp()}
        self._comments[request_id].append(comment)
        return Response.json(201, comment)

    # the state API (simulators.base) ---------------------------------------------------------------
    def _move(self, item: dict[str, Any], status: str) -> None:
        item.update(status=status, comment=COMMENTS.get(status), modified_at=self._stamp())

    def connection_config(self) -> ConnectionConfig:
        return ConnectionConfig(conn_id="cityservice_api", base_url=self.url, login=self.login,
                                password=self.password)

    def jobs_by_reference(self) -> dict[str, list[str]]:
        with self.lock:
            found: dict[str, list[str]] = {}
            for request_id, item in sorted(self._requests.items()):
                found.setdefault(item["our_number"], []).append(request_id)
            return found

    def advance(self, steps: int = 1) -> None:
        with self.lock:
            for _ in range(steps):
                for _, item in sorted(self._requests.items()):
                    if item["status"] == ACCEPTED:
                        self._move(item, REFUSED if self.random.random() < self.reject_rate else IN_WORK)
                    elif item["status"] == IN_WORK:
                        self._move(item, DONE)

    def set_job_status(self, job_id: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown cityservice status {status!r}; known: {sorted(STATUSES)}")
        with self.lock:
            self._move(self._requests[job_id], status)

    def inject_noisy_changes(self, job_ids: list[str], comment: str) -> None:
        """A comment on the first job's current state; the second job in a status the API does not have
        (its reply then breaks the document on purpose, and is recorded so)."""
        with self.lock:
            first = self._requests[job_ids[0]]
            first.update(comment=comment, modified_at=self._stamp())
            self._requests[job_ids[1]].update(status="призупинено", comment=comment, modified_at=self._stamp())

    # extra state API for this utility's tests ------------------------------------------------------
    def job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._requests[job_id])

    def job_payload(self, job_id: str) -> dict[str, Any]:
        """The create body exactly as received."""
        with self.lock:
            return copy.deepcopy(self._payloads[job_id])

    def comments(self, job_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self._comments[job_id])
