"""What every simulator shares: a threaded HTTP server on loopback, fault injection and a clock.

A simulator subclass implements ``handle(request) -> Response`` and its own state. Faults are
planned per route by tests and the demo::

    sim.faults.inject("drop_after_commit", method="POST", path="/api/v1/work-orders", times=2)

Fault kinds (shared by all simulators):
  latency            sleep ``seconds`` then answer normally
  server_error       answer ``status`` (default 503) with ``body`` (default a short text) without
                     handling the request
  html_error         answer ``status`` (default 502) with an HTML page, as a front proxy does
  reset              close the connection before handling the request (nothing committed)
  drop_after_commit  handle the request (state is committed), then close without answering
  truncated          handle, then send headers promising more bytes than the body has and close
  malformed          handle, then answer 200 with a body that is not valid JSON/XML
``go_offline()`` closes the listening socket so clients get "connection refused"; ``go_online()``
reopens it on the same port.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = frozenset(
    {"latency", "server_error", "html_error", "reset", "drop_after_commit", "truncated", "malformed"}
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        return cls(status, data, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


@dataclass
class Fault:
    kind: str
    method: str | None = None
    path: str | None = None  # substring of the request path
    times: int = 1  # how many matching requests it hits; -1: until cleared
    probability: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path in path)


class FaultPlan:
    """Thread-safe queue of planned faults; also counts what was injected."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(seed)
        self.injected: Counter[str] = Counter()

    def inject(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        probability: float = 1.0,
        **params: Any,
    ) -> None:
        if kind not in FAULT_KINDS and not kind.startswith("x-"):
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)} or 'x-...' for custom")
        with self._lock:
            self._faults.append(Fault(kind, method, path, times, probability, params))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.probability < 1.0 and self._random.random() >= fault.probability:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                self.injected[fault.kind] += 1
                return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would hold one back ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the simulators are quiet; tests read their state, not their logs

    def _serve(self) -> None:
        sim = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            self.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        sim.record_request(request)
        fault = sim.faults.take(request.method, request.path)
        if fault and fault.kind == "latency":
            time.sleep(float(fault.params.get("seconds", 1.0)))
            fault = None
        if fault and fault.kind == "reset":
            self._abort()
            return
        if fault and fault.kind == "server_error":
            text = fault.params.get("body", "Service Unavailable")
            self._write(Response(int(fault.params.get("status", 503)), text.encode(), {"Content-Type": "text/plain"}))
            return
        if fault and fault.kind == "html_error":
            status = int(fault.params.get("status", 502))
            page = f"<html><head><title>{status} Bad Gateway</title></head><body><h1>{status}</h1>nginx</body></html>"
            self._write(Response(status, page.encode(), {"Content-Type": "text/html"}))
            return
        try:
            response = sim.dispatch(request, fault)
        except Exception as exc:  # a simulator bug must show as a 500, not hang the client
            response = Response.json(500, {"error": "simulator_error", "detail": repr(exc)})
        if fault is None:  # a fault breaks the contract on purpose
            sim.check_reply(request, response)
        if fault and fault.kind == "drop_after_commit":
            self._abort()
            return
        if fault and fault.kind == "truncated":
            self.send_response(response.status)
            self.send_header("Content-Type", response.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(response.body) + 100))
            self.end_headers()
            self.wfile.write(response.body[: max(1, len(response.body) // 2)])
            self.wfile.flush()
            self._abort()
            return
        if fault and fault.kind == "malformed":
            response = Response(200, sim.malformed_body(), {"Content-Type": response.headers.get("Content-Type", "")})
        self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _abort(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) leaves a broken pipe: expected, not worth a traceback."""

    def __init__(self, address: tuple[str, int], simulator: BaseSimulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)


class BaseSimulator:
    """Common life cycle. Subclasses implement ``dispatch``, the state API and ``connection_config``.

    The state API the conformance tests and the demo use (every simulator has it):
      jobs_by_reference() -> dict[str, list[str]]   our reference -> the utility's job ids
      advance(steps=1)                               move every open job on by one status, seeded
      set_job_status(job_id, status)                 force a status (appends to the change feed)
      add_planned_work(**fields) -> str              a new notice; returns its id
      revise_planned_work(notice_id, **changes)      a new revision of it
      cancel_planned_work(notice_id)
      routes                                         {"create"|"feed"|"planned"|"update": (method, path)}:
                                                     where each stream's calls arrive, to aim faults at
      inject_noisy_changes(job_ids, comment)         one readable change of job_ids[0] carrying ``comment``,
                                                     one of job_ids[1] the connector must reject
    """

    name = "base"
    create_route: tuple[str, str] = ("POST", "/")  # (method, path) of the utility's create call
    planned_works = True  # False: the utility publishes none (the planned-works state API raises)
    routes: ClassVar[dict[str, tuple[str, str]]] = {}  # see the class docstring
    # The utility's own FaultPlan kinds ("x-..."), which scripts/chaos.py injects beside the shared ones.
    fault_kinds: ClassVar[tuple[str, ...]] = ()
    # The contract document in contracts/: "<name>.openapi.yaml" (REST) or "<name>/" (SOAP: WSDL + XSD).
    contract_document: ClassVar[str] = ""
    # Its fixed port on a stand, as an offset from ``python -m simulators serve --port-base``; 0: the next
    # free offset after the declared ones (see simulators/__main__.py).
    port_offset: ClassVar[int] = 0
    malformed_payload = b'{"id": "unterminated'

    def __init__(self, *, seed: int = 1520, host: str = "127.0.0.1", port: int = 0) -> None:
        self.seed = seed
        self.random = random.Random(seed)
        self.lock = threading.RLock()
        self.faults = FaultPlan(seed)
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._clock: threading.Thread | None = None
        self._clock_stop = threading.Event()
        self.request_log: deque[tuple[float, str, str]] = deque(maxlen=100_000)

    # life cycle -------------------------------------------------------------------------------
    def start(self) -> BaseSimulator:
        self._server = _Server((self._host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sim-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_clock()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def go_offline(self) -> None:
        """Close the listening socket: clients now get "connection refused"."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def go_online(self) -> None:
        if self._server is None:
            self.start()

    def __enter__(self) -> BaseSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    # autonomous clock for the demo --------------------------------------------------------------
    def start_clock(self, interval: float = 1.0) -> None:
        """Move jobs on by themselves every ``interval`` seconds, as the real system's crews do."""
        self._clock_stop.clear()

        def tick() -> None:
            while not self._clock_stop.wait(interval):
                self.advance()

        self._clock = threading.Thread(target=tick, name=f"sim-{self.name}-clock", daemon=True)
        self._clock.start()

    def stop_clock(self) -> None:
        self._clock_stop.set()
        if self._clock:
            self._clock.join(timeout=5)
            self._clock = None

    # hooks -----------------------------------------------------------------------------------------
    def record_request(self, request: Request) -> None:
        self.request_log.append((time.monotonic(), request.method, request.path))

    def dispatch(self, request: Request, fault: Fault | None) -> Response:
        raise NotImplementedError

    def prompt(self) -> None:
        """Switch off deliberate delays of the utility's own (late writes) for tests that need every
        change visible at once; faults still apply. The default has none to switch off."""

    def malformed_body(self) -> bytes:
        return self.malformed_payload

    contract: Any = None  # the utility's contract document (simulators.contract), when it has one

    def check_reply(self, request: Request, response: Response) -> None:
        """Validate a reply against the contract document (violations are recorded, see below)."""
        if self.contract is not None:
            self.contract.check_response(request, response)

    @property
    def contract_violations(self) -> list[dict[str, Any]]:
        """Requests and replies that broke the contract document, oldest first."""
        return list(self.contract.violations) if self.contract is not None else []

    def is_create(self, request: Request) -> bool:
        """Whether the request asks the utility to create a job (chaos kills a sync exactly there).
        A utility whose create shares its route with other calls (one SOAP endpoint) overrides this."""
        return (request.method, request.path) == tuple(self.create_route)

    def max_requests_per_window(self, window: float = 1.0) -> int:
        """The most requests seen in any sliding window of ``window`` seconds (rate-limit checks)."""
        stamps = sorted(t for t, _, _ in self.request_log)
        best, start = 0, 0
        for end, stamp in enumerate(stamps):
            while stamp - stamps[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    # the state API (see the class docstring) --------------------------------------------------------
    def connection_config(self):  # -> gateway.connections.ConnectionConfig
        raise NotImplementedError

    def jobs_by_reference(self) -> dict[str, list[str]]:
        raise NotImplementedError

    def advance(self, steps: int = 1) -> None:
        raise NotImplementedError

    def set_job_status(self, job_id: str, status: str) -> None:
        raise NotImplementedError

    def add_planned_work(self, **fields: Any) -> str:
        raise NotImplementedError

    def revise_planned_work(self, notice_id: str, **changes: Any) -> None:
        raise NotImplementedError

    def cancel_planned_work(self, notice_id: str) -> None:
        raise NotImplementedError

    def inject_noisy_changes(self, job_ids: list[str], comment: str) -> None:
        raise NotImplementedError
