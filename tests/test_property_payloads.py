"""Property tests of the three connectors' payload parsers, over real HTTP.

Every parser gets generated bodies: pages whose items are valid, or valid but for one broken field,
or junk; and whole bodies that are anything at all. A tiny stdlib HTTP server on loopback serves them
(requests and zeep are never mocked); where the parsing layer is a pure function (ecospectrans'
``wire``) it is also called directly. What must hold:

- a page: every readable item comes through, read exactly as sent; every broken one is a
  RejectedItem, in order, whose key says which item and whose error names the broken field; nothing
  is dropped silently (changes + rejects = items);
- a body that cannot be read as a page: a gateway error (``RetriableError`` for these reads) whose
  message names the call; never another exception type.

Also here: XML with entities, external references or an entity-expansion bomb is refused by the
teplotsentral connector (and by its simulator) without expanding, reading a file or fetching a URL;
and, at the engine, a notice revision beyond a 32-bit integer (once a gateway bug, fixed by migration 0005).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, unescape
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connectors.ecospectrans.connector import EcospectransConnector
from connectors.ecospectrans.wire import STATUSES as ECO_STATUSES
from connectors.ecospectrans.wire import planned_work, remote_job, status_change
from connectors.teplotsentral.connector import TeplotsentralConnector
from connectors.teplotsentral.wire import NAMESPACE
from connectors.vodokanal.connector import VodokanalConnector
from connectors.vodokanal.wire import STATUSES as WATER_STATUSES
from gateway.connections import ConnectionConfig
from gateway.connector import JobDraft, Timeouts
from gateway.errors import AmbiguousError, ConnectorError, RetriableError
from gateway.models import Announcement, DeadLetter
from gateway.registry import load_registry
from gateway.sync.context import build_context
from gateway.sync.engine import run_step
from gateway.sync.retry import RetryPolicy
from gateway.toolkit.timestamps import Unreadable as WireError
from simulators.teplotsentral import ENDPOINT_PATH, STATUS_CODES, TeplotsentralSimulator

KYIV = ZoneInfo("Europe/Kyiv")
FAST = Timeouts(connect=2, read=5)
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MISSING = object()  # a field left out


# a loopback HTTP server that answers whatever the test says ---------------------------------------------

class Loopback:
    """A tiny HTTP server on 127.0.0.1: ``answer(method, path)`` gives (status, content type, body)."""

    def __init__(self) -> None:
        self.answer: Callable[[str, str], tuple[int, str, bytes]] = lambda method, path: (404, "text/plain", b"")
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: Nagle would hold one back ~40 ms

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.hits.append(f"{self.command} {self.path}")
                status, content_type, body = outer.answer(self.command, self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self, routes: dict[str, bytes | Any], *, content_type: str = "application/json") -> None:
        """Answer 200 with the body of the first route that the path starts with (JSON-encoded unless bytes)."""
        encoded = {p: b if isinstance(b, bytes) else json.dumps(b).encode() for p, b in routes.items()}

        def answer(method: str, path: str) -> tuple[int, str, bytes]:
            for prefix, body in encoded.items():
                if path.startswith(prefix):
                    return 200, content_type, body
            return 404, "text/plain", b"no route"

        self.answer = answer

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[Loopback]:
    loopback = Loopback()
    yield loopback
    loopback.close()


# JSON strategies ----------------------------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.text(max_size=12),
                         st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(
    json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=3)),
    max_leaves=5,
)
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=3)), timezone(timedelta(hours=-5, minutes=-30))]
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                       timezones=st.sampled_from(OFFSETS))
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda t: t.strip())
JUNK_MOMENTS = [MISSING, None, 5, "", "вчора", "2024-03-11T10:00:00", "2024-02-30T10:00:00+02:00",
                "0001-01-01T00:00:00+14:00", ["2024-03-11T10:00:00+02:00"]]


def put(item: dict, name: str, value: Any) -> None:
    if value is MISSING:
        item.pop(name, None)
    else:
        item[name] = value


def extras(draw, known: set[str]) -> dict[str, Any]:
    """Fields the contract does not have: a reader must pass over them."""
    return draw(st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in known), json_values,
                                max_size=2))


@st.composite
def broken_items(draw, make: Callable[[Any, int], dict], breaks: dict[str, list[Any]], junk_share: int = 10):
    """A page's items: each valid (broken=None), valid but for one field, or not an object at all."""
    out = []
    for index in range(draw(st.integers(0, 8))):
        item = make(draw, index)
        broken = draw(st.one_of(st.none(), st.sampled_from(sorted(breaks))))
        if broken is not None:
            put(item, broken, draw(st.sampled_from(breaks[broken])))
        elif draw(st.integers(0, junk_share)) == 0:
            item, broken = draw(json_values.filter(lambda v: not isinstance(v, dict))), "item"
        out.append((item, broken))
    return out


def any_bodies(list_key: str = "items") -> st.SearchStrategy[bytes]:
    """Anything at all as a reply body, now and then a page (a JSON object with ``list_key``) of junk."""
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(lambda items, rest: {**rest, list_key: items}, st.lists(json_values, max_size=4),
                  st.dictionaries(st.text(max_size=10), json_values, max_size=3)).map(lambda v: json.dumps(v).encode()),
        st.just(b"[" * 100_000),  # deeper than the JSON parser's stack
    )


# vodokanal: the change feed and planned works ------------------------------------------------------------

@pytest.fixture(scope="module")
def water(server) -> Iterator[VodokanalConnector]:
    connector = VodokanalConnector(ConnectionConfig("vodokanal_api", server.url, password="vk-prop-key"),
                                   timeouts=FAST)
    yield connector
    connector.close()


FEED_FIELDS = {"seq", "order_id", "external_ref", "status", "changed_at", "comment", "crew"}
FEED_BREAKS = {
    "seq": [MISSING, None, 0, -3, "7", 1.5, True, []],
    "order_id": [MISSING, None, "", "   ", True, [], {}, 1.5],
    "status": [MISSING, None, "", "ON_HOLD", "completed", 5, ["NEW"]],
    "changed_at": JUNK_MOMENTS,
}


def _feed_item(draw, index: int) -> dict:
    item = {
        "seq": 1000 * (index + 1) + draw(st.integers(0, 999)),
        "order_id": draw(st.one_of(st.from_regex(r"WO-[0-9]{6}", fullmatch=True), st.integers(1, 10**9), words)),
        "external_ref": draw(st.one_of(st.none(), words, json_values)),  # informational: junk is dropped
        "status": draw(st.sampled_from(sorted(WATER_STATUSES))),
        "changed_at": draw(moments).isoformat(),
        "comment": draw(st.one_of(st.none(), words, json_values)),
        "crew": draw(st.one_of(st.none(), words, json_values)),
    }
    return item | extras(draw, FEED_FIELDS)


@PROPERTY
@given(broken_items(_feed_item, FEED_BREAKS))
def test_vodokanal_feed_keeps_every_readable_change_and_rejects_each_broken_one(water, server, case):
    items = [item for item, _ in case]
    server.serve({"/api/v1/work-orders/changes": {"items": items, "has_more": False}})
    page = water.fetch_changes(None, 500)

    assert len(page.changes) + len(page.rejects) == len(items)
    changes = {c.change_id: c for c in page.changes}
    broken = [(index, item, field) for index, (item, field) in enumerate(case) if field]
    assert [r.payload for r in page.rejects] == [item for _, item, _ in broken]
    for (index, item, field), reject in zip(broken, page.rejects, strict=True):
        assert reject.error.startswith(f"{field}:"), reject.error
        assert reject.key == (str(item["seq"]) if field not in ("seq", "item") else f"after 0, item {index}")
    for item, field in case:
        if field is None:
            change = changes[str(item["seq"])]
            assert change.job_id == str(item["order_id"]).strip() and change.status == item["status"]
            assert change.changed_at == datetime.fromisoformat(item["changed_at"]) and change.position == item["seq"]
            assert change.reference == (item["external_ref"].strip() or None
                                        if isinstance(item["external_ref"], str) else None)
    # the cursor moves past rejected items too (they are in the dead letters, not re-read for ever)
    readable = [item["seq"] for item, field in case if field not in ("seq", "item")]
    assert page.next_cursor == str(max(readable, default=0))


@PROPERTY
@given(any_bodies())
@example(b"[" * 100_000)
@example(b'{"items": [{"seq": 1, "status": "NEW", "changed_at": "2024-03-11T10:00:00+02:00"}], "next_after": []}')
def test_vodokanal_feed_any_body_gives_a_page_or_a_retriable_error(water, server, body):
    server.serve({"/api/v1/work-orders/changes": body})
    try:
        page = water.fetch_changes(None, 100)
    except RetriableError as exc:
        assert str(exc).startswith("vodokanal: read change feed after 0")
        return
    items = json.loads(body)["items"]
    assert len(page.changes) + len(page.rejects) == len(items)


NOTICE_FIELDS = {"id", "version", "kind", "service", "state", "starts_at", "ends_at", "addresses", "reason",
                 "tanker_location", "contact_phone", "households", "published_at"}
NOTICE_BREAKS = {
    "id": [MISSING, None, "", "  ", True, [], {}, 1.5],
    "version": [MISSING, None, 0, -1, "2", 1.5, True],
    "kind": [MISSING, None, "scheduled", "", ["planned"], {"kind": "planned"}, 5],
    "service": [MISSING, None, "hot_water", ["cold_water"], {}, 7],
    "state": [None, "deleted", "", ["active"], {}, 0],
    "starts_at": JUNK_MOMENTS,
    "ends_at": [5, "", "вчора", "2024-03-11T10:00:00", "9999-12-31T23:59:59-14:00", ["x"], "BEFORE"],
    "addresses": [MISSING, None, [], "вул. Соборності, 12", {"street": "вул. Соборності"}, 5],
}
GOOD_HOUSES = st.one_of(
    st.just("all"),
    st.lists(st.one_of(st.from_regex(r"[1-9][0-9]{0,2}[абв]?", fullmatch=True), st.integers(1, 300)),
             min_size=1, max_size=4),
    st.tuples(st.integers(1, 100), st.integers(0, 50), st.sampled_from(["even", "odd", None])).map(
        lambda t: {"from": t[0], "to": t[0] + t[1], "side": t[2]}),
)
BAD_ENTRIES = [
    {"street": "", "houses": "all"}, {"houses": ["5"]}, "вул. Каткова, 5", 17, None,
    {"street": "вул. Каткова", "houses": {"from": 9, "to": 2}},
    {"street": "вул. Каткова", "houses": {"from": 1, "to": 9, "side": ["even"]}},
    {"street": "вул. Каткова", "houses": 5}, {"street": "вул. Каткова", "houses": []},
    {"street": ["вул. Каткова"], "houses": "all"},
]


def _notice(draw, index: int) -> dict:
    starts = draw(moments)
    entries = draw(st.lists(st.one_of(st.tuples(words, GOOD_HOUSES).map(lambda t: ({"street": t[0], "houses": t[1]},
                                                                                    True)),
                                      st.sampled_from(BAD_ENTRIES).map(lambda e: (e, False))),
                            min_size=1, max_size=4))
    item = {
        "id": f"PW-{index + 1:05d}",
        "version": draw(st.integers(1, 10_000)),
        "kind": draw(st.sampled_from(["planned", "emergency"])),
        "service": draw(st.sampled_from(["cold_water", "sewage"])),
        "starts_at": starts.isoformat(),
        "addresses": [entry for entry, _ in entries],
        # informational: an unreadable one is dropped, the notice still reaches residents
        "reason": draw(st.one_of(st.none(), words, json_values)),
        "tanker_location": draw(st.one_of(st.none(), words, json_values)),
        "contact_phone": draw(st.one_of(st.none(), st.just("+380564041520"), json_values)),
        "households": draw(json_values),
        "published_at": draw(st.one_of(moments.map(datetime.isoformat), json_values)),
    }
    put(item, "state", draw(st.sampled_from([MISSING, "active", "cancelled"])))
    ends = draw(st.sampled_from(["missing", "null", "later"]))
    if ends == "null":
        item["ends_at"] = None
    elif ends == "later":
        item["ends_at"] = (starts + draw(st.timedeltas(timedelta(0), timedelta(days=60)))).isoformat()
    item["_entries"] = entries  # taken out before serving
    return item | extras(draw, NOTICE_FIELDS)


def _served_notice(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    served = {k: v for k, v in item.items() if k != "_entries"}
    if served.get("ends_at") == "BEFORE":
        served["ends_at"] = (datetime.fromisoformat(served["starts_at"]) - timedelta(hours=1)).isoformat()
    return served


@PROPERTY
@given(broken_items(_notice, NOTICE_BREAKS))
def test_vodokanal_planned_works_keep_every_readable_notice_and_reject_each_broken_one(water, server, case):
    served = [_served_notice(item) for item, _ in case]
    server.serve({"/api/v1/planned-works": {"items": served, "next_page": None}})
    page = water.fetch_planned_works(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))

    assert len(page.works) + len(page.rejects) == len(served)
    broken = [(index, body, field) for index, (body, (_, field)) in enumerate(zip(served, case, strict=True))
              if field]
    assert [r.payload for r in page.rejects] == [body for _, body, _ in broken]
    for (index, body, field), reject in zip(broken, page.rejects, strict=True):
        assert reject.error.startswith("notice:" if field == "item" else f"{field}:"), reject.error
        named = body.get("id") if isinstance(body, dict) else None
        assert reject.key == (str(named) if named not in (None, "") else f"page 1, item {index}")
    works = {w.notice_id: w for w in page.works}
    for (item, field), body in zip(case, served, strict=True):
        if field is not None:
            continue
        work = works[body["id"]]
        assert (work.revision, work.kind, work.service) == (body["version"], body["kind"], body["service"])
        assert work.starts_at == datetime.fromisoformat(body["starts_at"])
        assert work.ends_at == (datetime.fromisoformat(body["ends_at"]) if body.get("ends_at") else None)
        assert work.cancelled == (body.get("state") == "cancelled")
        assert work.reason == (body["reason"].strip() or None if isinstance(body["reason"], str) else None)
        good = [entry["street"].strip() for entry, ok in item["_entries"] if ok]
        assert [a.street for a in work.addresses] == good
        assert len(work.unparsed_lines) == sum(1 for _, ok in item["_entries"] if not ok)


@PROPERTY
@given(any_bodies())
def test_vodokanal_planned_works_any_body_gives_a_page_or_a_retriable_error(water, server, body):
    server.serve({"/api/v1/planned-works": body})
    try:
        page = water.fetch_planned_works(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    except RetriableError as exc:
        assert str(exc).startswith("vodokanal: read planned works page")
        return
    items = json.loads(body)["items"]
    assert len({w.notice_id for w in page.works}) == len(page.works)  # one work per notice, its latest version
    assert len(page.works) + len(page.rejects) <= len(items)


# ecospectrans: the pure wire readers, then the ticket feed and schedule changes over HTTP ------------------

ECO_KEYS = ["id", "status", "updated_at", "created_at", "client_reference", "status_reason", "date", "original_date",
            "streets", "cancelled", "reason_code", "district", "reason"]


@PROPERTY
@given(st.one_of(json_values, st.dictionaries(st.sampled_from(ECO_KEYS), json_values, max_size=8)))
def test_ecospectrans_wire_readers_raise_only_wire_errors(item):
    for reader in (status_change, planned_work, remote_job):
        try:
            reader(item)
        except WireError as exc:
            assert str(exc).split(":", 1)[0] in {*ECO_KEYS, "item"}, str(exc)


@pytest.fixture(scope="module")
def waste(server) -> Iterator[EcospectransConnector]:
    connection = ConnectionConfig("ecospectrans_api", server.url, login="cc1520", password="eco-prop-secret",
                                  extra={"rate_limit": "off"})
    connector = EcospectransConnector(connection, timeouts=FAST)
    yield connector
    connector.close()


TOKEN = {"access_token": "prop-token-1", "token_type": "Bearer", "expires_in": 300}
TICKET_FIELDS = {"id", "token", "client_reference", "category", "status", "status_reason", "updated_at", "created_at"}
TICKET_BREAKS = {
    "id": [MISSING, None, "", "   ", True, [], 1.5],
    "status": [MISSING, None, "lost", "OPEN", 3, ["open"]],
    "updated_at": JUNK_MOMENTS,
}


def _ticket(draw, index: int) -> dict:
    item = {
        "id": f"ECO-{index + 1:06d}",
        "token": "tkn_" + draw(st.from_regex(r"[0-9a-f]{8}", fullmatch=True)),
        "client_reference": draw(st.one_of(words, json_values)),
        "category": "BULKY_WASTE",
        "status": draw(st.sampled_from(ECO_STATUSES)),
        "status_reason": draw(st.one_of(st.none(), words, json_values)),
        "updated_at": draw(moments).isoformat(),
        "created_at": draw(st.one_of(moments.map(datetime.isoformat), json_values)),
    }
    return item | extras(draw, TICKET_FIELDS)


@PROPERTY
@given(broken_items(_ticket, TICKET_BREAKS))
def test_ecospectrans_feed_keeps_every_readable_ticket_and_rejects_each_broken_one(waste, server, case):
    items = [item for item, _ in case]
    server.serve({"/oauth/token": TOKEN, "/v2/tickets": {"tickets": items, "next_cursor": None, "has_more": False}})
    page = waste.fetch_changes(None, 100)

    assert len(page.changes) + len(page.rejects) == len(items)
    broken = [(index, item, field) for index, (item, field) in enumerate(case) if field]
    assert [r.payload for r in page.rejects] == [item for _, item, _ in broken]
    for (index, item, field), reject in zip(broken, page.rejects, strict=True):
        assert reject.error.startswith(f"{field}:"), reject.error
        named = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
        assert reject.key == (named or f"page-item-{index}")
    changes = {c.job_id: c for c in page.changes}
    for item, field in case:
        if field is None:
            change = changes[item["id"]]
            assert change.status == item["status"]
            assert change.changed_at == datetime.fromisoformat(item["updated_at"])
            assert change.reference == (item["client_reference"] if isinstance(item["client_reference"], str)
                                        else None)
            reason = item["status_reason"]
            assert change.comment == (reason if isinstance(reason, str) and reason.strip() else None)


SCHEDULE_FIELDS = {"id", "updated_at", "created_at", "district", "streets", "date", "original_date", "reason",
                   "reason_code", "cancelled"}
SCHEDULE_BREAKS = {
    "id": [MISSING, None, "", True, [], 1.5],
    "updated_at": JUNK_MOMENTS,
    "date": [MISSING, None, "31.12.2024", "2024-02-30", 20240101, "9999-12-31", ["2024-01-01"]],
    "original_date": ["вчора", 5, "2024-13-01", "0001-01-01", ["2024-01-01"]],
    "streets": [MISSING, None, [], "вул. Каткова", [""], ["  "], [5], ["вул. Каткова", None]],
    "cancelled": [MISSING, None, "false", 0, 1, "true"],
}


def _schedule_change(draw, index: int) -> dict:
    item = {
        "id": f"SC-{index + 1:05d}",
        "updated_at": draw(moments).isoformat(),
        "date": draw(st.dates(date(2000, 1, 1), date(2099, 12, 31))).isoformat(),
        "streets": draw(st.lists(words, min_size=1, max_size=3)),
        "cancelled": draw(st.booleans()),
        # informational: an unreadable one is dropped, the notice still reaches residents
        "reason_code": draw(st.one_of(st.sampled_from(["holiday", "breakdown", "route_change", "weather"]),
                                      json_values)),
        "created_at": draw(st.one_of(moments.map(datetime.isoformat), json_values)),
        "district": draw(st.one_of(words, json_values)),
        "reason": draw(st.one_of(words, json_values)),
    }
    put(item, "original_date", draw(st.one_of(st.sampled_from([MISSING, None]),
                                              st.dates(date(2000, 1, 1), date(2099, 12, 31)).map(date.isoformat))))
    return item | extras(draw, SCHEDULE_FIELDS)


@PROPERTY
@given(broken_items(_schedule_change, SCHEDULE_BREAKS))
def test_ecospectrans_schedule_changes_keep_every_readable_one_and_reject_each_broken_one(waste, server, case):
    items = [item for item, _ in case]
    server.serve({"/oauth/token": TOKEN, "/v2/schedule-changes": {"schedule_changes": items}})
    page = waste.fetch_planned_works(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))

    assert len(page.works) + len(page.rejects) == len(items)
    broken = [(index, item, field) for index, (item, field) in enumerate(case) if field]
    assert [r.payload for r in page.rejects] == [item for _, item, _ in broken]
    for (index, item, field), reject in zip(broken, page.rejects, strict=True):
        assert reject.error.startswith(f"{field}:"), reject.error
        named = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
        assert reject.key == (named or f"item-{index}")
    works = {w.notice_id: w for w in page.works}
    for item, field in case:
        if field is not None:
            continue
        work = works[item["id"]]
        day = date.fromisoformat(item["date"])
        assert work.revision == int(datetime.fromisoformat(item["updated_at"]).timestamp())
        assert work.starts_at == datetime.combine(day, time(0), KYIV) and work.service == "waste_collection"
        assert work.kind == ("emergency" if item["reason_code"] == "breakdown" else "planned")
        assert (work.ends_at is None) == (item["reason_code"] == "route_change")
        assert [a.street for a in work.addresses] == [s.strip() for s in item["streets"]]
        assert work.cancelled is item["cancelled"]


ECO_ROUTES = {"tickets": "/v2/tickets", "schedule_changes": "/v2/schedule-changes"}


@PROPERTY
@given(st.sampled_from(sorted(ECO_ROUTES)).flatmap(lambda key: st.tuples(st.just(key), any_bodies(key))))
def test_ecospectrans_any_body_gives_a_page_or_a_retriable_error(waste, server, case):
    key, body = case
    server.serve({"/oauth/token": TOKEN, ECO_ROUTES[key]: body})
    try:
        if key == "tickets":
            page = waste.fetch_changes(None, 100)
            read = len(page.changes)
        else:
            page = waste.fetch_planned_works(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
            read = len(page.works)
    except RetriableError as exc:
        assert str(exc).startswith(f"ecospectrans GET {ECO_ROUTES[key]}")
        return
    assert read + len(page.rejects) == len(json.loads(body)[key])


# teplotsentral: SOAP list replies ------------------------------------------------------------------------

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)  # winter: Kyiv is UTC+2 all through the generated window
xml_words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co", "Cn")), min_size=1,
                    max_size=30).map(str.strip).filter(bool)


def envelope(response: str, items: list[str]) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}" xmlns:tc="{NAMESPACE}">'
            f"<soap:Body><tc:{response}>{''.join(items)}</tc:{response}></soap:Body></soap:Envelope>").encode()


def element_xml(children: list[tuple[str, str | None]]) -> str:
    parts = []
    for name, text in children:
        if text is None:
            parts.append(f'<tc:{name} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>')
        else:
            parts.append(f"<tc:{name}>{text}</tc:{name}>")
    return "".join(parts)


def wall_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture(scope="module")
def heat(server) -> Iterator[TeplotsentralConnector]:
    connection = ConnectionConfig("teplotsentral_soap", server.url + ENDPOINT_PATH, login="cc1520",
                                  password="teplo-prop-secret")
    connector = TeplotsentralConnector(connection, timeouts=FAST, clock=lambda: NOW)
    yield connector
    connector.close()


def serve_xml(server: Loopback, body: bytes, status: int = 200) -> None:
    server.answer = lambda method, path: (status, "text/xml; charset=utf-8", body)


STRUCTURE_BREAKS = ["drop", "extra", "swap"]


@st.composite
def xml_items(draw, make: Callable, value_breaks: dict[str, list[str]]):
    """(children, broken) per item: children are (element, text) in schema order; broken names what was done."""
    out = []
    for index in range(draw(st.integers(0, 6))):
        children, required = make(draw, index)
        broken = draw(st.one_of(st.none(), st.sampled_from(STRUCTURE_BREAKS + sorted(value_breaks))))
        if broken == "drop":
            name = draw(st.sampled_from(required))
            children = [c for c in children if c[0] != name]
        elif broken == "extra":
            at = draw(st.integers(0, len(children)))
            children = [*children[:at], ("Priority", "1"), *children[at:]]
        elif broken == "swap":
            at = draw(st.integers(0, len(required) - 2))
            a, b = required[at], required[at + 1]
            position = {name: i for i, (name, _) in enumerate(children)}
            children[position[a]], children[position[b]] = children[position[b]], children[position[a]]
        elif broken is not None:
            target = broken.split("=")[0]
            if any(name == target for name, _ in children):
                value = draw(st.sampled_from(value_breaks[broken]))
                children = [(name, value if name == target else text) for name, text in children]
            else:  # an optional element the item does not have: nothing to break
                broken = None
        out.append((children, broken))
    return out


CHANGE_REQUIRED = ["ComplaintId", "ExternalNumber", "StatusCode", "ChangedAt"]
CHANGE_BREAKS = {
    "StatusCode": ["95", "", "1O"],
    "ChangedAt": ["вчора", "2026-13-01T00:00:00", "2026-01-10 09:00:00"],
    "ChangedAt=range": ["0001-01-01T00:00:00"],
    "ComplaintId": [""],
}


def _change(draw, index: int):
    wall = datetime(2026, 1, 17, 8, 0) + timedelta(minutes=7 * index, seconds=draw(st.integers(0, 59)))
    children = [("ComplaintId", str(240001 + index)), ("ExternalNumber", f"1520-2026-{index + 1:06d}"),
                ("StatusCode", draw(st.sampled_from(sorted(STATUS_CODES)))), ("ChangedAt", wall_text(wall))]
    comment = draw(st.one_of(st.none(), xml_words))
    if comment is not None:
        children.append(("Comment", escape(comment)))
    return children, CHANGE_REQUIRED


@PROPERTY
@given(xml_items(_change, CHANGE_BREAKS))
def test_teplotsentral_changes_keep_every_readable_change_and_reject_each_broken_one(heat, server, case):
    serve_xml(server, envelope("GetStatusChangesResponse",
                               [f"<tc:StatusChange>{element_xml(c)}</tc:StatusChange>" for c, _ in case]))
    page = heat.fetch_changes(None, 100)

    assert len(page.changes) + len(page.rejects) == len(case)
    changes = {c.job_id: c for c in page.changes}
    for children, broken in case:
        sent = dict(children)
        if broken is None:
            change = changes[sent["ComplaintId"]]
            wall = datetime.fromisoformat(sent["ChangedAt"])
            assert change.status == sent["StatusCode"] and change.reference == sent["ExternalNumber"]
            assert change.changed_at == wall.replace(tzinfo=KYIV).astimezone(UTC)
            assert change.comment == (unescape(sent["Comment"]) if sent.get("Comment") else None)
        else:
            assert not sent.get("ComplaintId") or sent["ComplaintId"] not in changes
    assert sorted(_kind(r.error, CHANGE_ERRORS, CHANGE_REQUIRED) for r in page.rejects) == sorted(
        CHANGE_ERRORS.get(broken, "structure") for _, broken in case if broken)
    assert all(r.key for r in page.rejects)


CHANGE_ERRORS = {"StatusCode": "StatusCode: unknown code", "ChangedAt": "ChangedAt: not a date-time",
                 "ChangedAt=range": "ChangedAt: out of range", "ComplaintId": "ComplaintId: missing"}


def _kind(error: str, known: dict[str, str], elements: list[str]) -> str:
    """Which break a reject's error tells of: a known message, or a structural one naming an element."""
    for message in known.values():
        if error.startswith(message):
            return message
    named = [*elements, "Comment", "EndsAt", "Priority"]
    if any(f"'{name}'" in error or error.startswith(f"{name}:") for name in named):
        return "structure"
    return f"unexpected: {error}"


OUTAGE_REQUIRED = ["OutageId", "Revision", "Kind", "Service", "AddressLines", "StartsAt", "Reason", "Cancelled"]
OUTAGE_BREAKS = {
    "Revision": ["abc", "1.5", "0", "-4", "99999999999999999999"],
    "Kind": ["unplanned", "PLANNED"],
    "Service": ["cold_water", ""],
    "StartsAt": ["вчора", "2026-02-30T09:00:00"],
    "StartsAt=range": ["0001-01-01T00:00:00"],
    "EndsAt": ["вчора", "2026-13-01T00:00:00", "BEFORE"],
    "Cancelled": ["maybe", "TRUE", "yes"],
}
ADDRESS_LINES = ["вул. Соборності, 12–28 (парні)", "просп. Металургів, 5, 7, 9а", "м-н Сонячний, буд. 1–15",
                 "вул. Героїв АТО, 41, 43, 45", "біля котельні №5"]


def _outage(draw, index: int):
    starts = datetime(2026, 1, 21, 9, 0) + timedelta(hours=5 * index)
    lines = draw(st.lists(st.one_of(st.sampled_from(ADDRESS_LINES), xml_words), max_size=3))
    children = [("OutageId", f"TC-OUT-{index + 1:04d}"), ("Revision", str(draw(st.integers(1, 10**6)))),
                ("Kind", draw(st.sampled_from(["planned", "emergency"]))),
                ("Service", draw(st.sampled_from(["heating", "hot_water"]))),
                ("AddressLines", "".join(f"<tc:AddressLine>{escape(line)}</tc:AddressLine>" for line in lines)),
                ("StartsAt", wall_text(starts))]
    ends = draw(st.sampled_from(["absent", "nil", "later"]))
    if ends == "nil":
        children.append(("EndsAt", None))
    elif ends == "later":
        children.append(("EndsAt", wall_text(starts + timedelta(hours=draw(st.integers(1, 72))))))
    children += [("Reason", escape(draw(xml_words))), ("Cancelled", draw(st.sampled_from(["true", "false", "1", "0"])))]
    return children, OUTAGE_REQUIRED


@PROPERTY
@given(xml_items(_outage, OUTAGE_BREAKS))
def test_teplotsentral_outages_keep_every_readable_one_and_reject_each_broken_one(heat, server, case):
    def served(children):
        starts = dict(children).get("StartsAt", "2026-01-21T09:00:00")
        return [(name, wall_text(datetime.fromisoformat(starts) - timedelta(hours=1)) if text == "BEFORE" else text)
                for name, text in children]

    serve_xml(server, envelope("GetPlannedOutagesResponse",
                               [f"<tc:Outage>{element_xml(served(c))}</tc:Outage>" for c, _ in case]))
    page = heat.fetch_planned_works(NOW, NOW + timedelta(days=20))

    assert len(page.works) + len(page.rejects) == len(case)
    works = {w.notice_id: w for w in page.works}
    rejects = {r.key: r for r in page.rejects}
    expected_errors = {"Revision": "Revision:", "Kind": "Kind:", "Service": "Service:", "StartsAt": "StartsAt:",
                       "StartsAt=range": "StartsAt: out of range", "EndsAt": "EndsAt:", "Cancelled": "Cancelled:"}
    for children, broken in case:
        sent = dict(served(children))
        if broken is None:
            work = works[sent["OutageId"]]
            assert (work.revision, work.kind, work.service) == (int(sent["Revision"]), sent["Kind"], sent["Service"])
            assert work.starts_at == datetime.fromisoformat(sent["StartsAt"]).replace(tzinfo=KYIV).astimezone(UTC)
            ends = sent.get("EndsAt")
            assert work.ends_at == (datetime.fromisoformat(ends).replace(tzinfo=KYIV).astimezone(UTC) if ends else None)
            assert work.cancelled == (sent["Cancelled"] in ("true", "1"))
            lines = [line for line in _lines(sent["AddressLines"]) if line.strip()]
            assert set(work.unparsed_lines) <= set(lines) and (work.addresses or work.unparsed_lines or not lines)
        else:
            assert sent.get("OutageId") not in works
            if broken in expected_errors:
                reject = rejects[sent["OutageId"]]
                assert reject.error.startswith(expected_errors[broken]), reject.error
    for reject in page.rejects:
        assert reject.key and reject.error


def _lines(xml: str) -> list[str]:
    return [unescape(part.split("</tc:AddressLine>")[0]) for part in xml.split("<tc:AddressLine>")[1:]]


@PROPERTY
@given(st.data())
def test_teplotsentral_any_reply_gives_a_page_or_a_gateway_error(heat, server, data):
    good = envelope("GetStatusChangesResponse", [
        "<tc:StatusChange><tc:ComplaintId>240001</tc:ComplaintId><tc:ExternalNumber>1520-2026-000001"
        "</tc:ExternalNumber><tc:StatusCode>20</tc:StatusCode><tc:ChangedAt>2026-01-19T10:00:00</tc:ChangedAt>"
        "</tc:StatusChange>"])
    body = data.draw(st.one_of(
        st.integers(0, len(good) - 1).map(lambda n: good[:n]),  # cut short anywhere
        st.binary(max_size=200),
        st.just(b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        st.just(envelope("GetPlannedOutagesResponse", [])),  # another operation's reply
        st.just(envelope("GetStatusChangesResponse", []).replace(b"<tc:GetStatusChangesResponse>"
                                                                 b"</tc:GetStatusChangesResponse>", b"")),
        st.tuples(st.sampled_from(["soap:Client", "soap:Server", "soap:VersionMismatch", "x"]), xml_words).map(
            lambda f: (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><soap:Fault><faultcode>{f[0]}</faultcode>'
                       f"<faultstring>{escape(f[1])}</faultstring></soap:Fault></soap:Body></soap:Envelope>").encode()),
    ))
    serve_xml(server, body, status=data.draw(st.sampled_from([200, 500])))
    try:
        page = heat.fetch_changes(None, 100)
    except ConnectorError as exc:
        assert str(exc).startswith("teplotsentral GetStatusChanges"), str(exc)
        return
    assert body == good and [c.job_id for c in page.changes] == ["240001"]


# XML attacks in replies: refused, nothing expanded, read or fetched ---------------------------------------

CANARY = "CANARY-7f3a91-not-for-your-eyes"
# zeep's refusals of a DTD or an entity; or libxml2's own, before zeep looks: an undefined entity
# (XMLSyntaxError) or an entity amplification it will not parse (zeep reports "invalid XML": TransportError)
REFUSALS = ("DTDForbidden", "EntitiesForbidden", "ExternalReferenceForbidden", "XMLSyntaxError", "TransportError")


@pytest.fixture
def tripwire(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A named pipe: a parser that opens it blocks until this thread opens it for writing, so any
    attempt to read it is seen, whatever the timing; the text it would read is the canary."""
    path = tmp_path / "secret.txt"
    os.mkfifo(path)
    opened: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.01):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: nobody is reading
                continue
            opened.append("opened")
            try:
                os.write(fd, CANARY.encode())
            finally:
                os.close(fd)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield path, opened
    stop.set()
    thread.join(timeout=5)
    assert stat.S_ISFIFO(path.stat().st_mode)


@pytest.fixture
def listener() -> Iterator[Loopback]:
    """Where an external reference points: it must never be asked for anything."""
    loopback = Loopback()
    loopback.answer = lambda method, path: (200, "application/xml-dtd", f'<!ENTITY leak "{CANARY}">'.encode())
    yield loopback
    loopback.close()


def attacks(file: Path, url: str) -> dict[str, tuple[str, str]]:
    """name -> (DOCTYPE, what goes into an element)."""
    bomb = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return {
        "internal entity": ('<!DOCTYPE soap:Envelope [<!ENTITY e "expanded">]>', "&e;"),
        "file entity": (f'<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file://{file}">]>', "&xxe;"),
        "http entity": (f'<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "{url}/entity">]>', "&xxe;"),
        "external DTD": (f'<!DOCTYPE soap:Envelope SYSTEM "{url}/evil.dtd">', "240001"),
        "parameter entity over http": (f'<!DOCTYPE soap:Envelope [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>',
                                       "&leak;"),
        "parameter entity from a file": (f'<!DOCTYPE soap:Envelope [<!ENTITY % p SYSTEM "file://{file}"> %p;]>',
                                         "240001"),
        "billion laughs": ("<!DOCTYPE soap:Envelope [" + "".join(bomb) + "]>", "&lol9;"),
        "quadratic blowup": (f'<!DOCTYPE soap:Envelope [<!ENTITY a "{"x" * 50_000}">]>', "&a;" * 2_000),
    }


def attack_reply(operation: str, doctype: str, value: str) -> bytes:
    inner = {
        "FindComplaints": f"<tc:Complaint><tc:ComplaintId>{value}</tc:ComplaintId><tc:ExternalNumber>1520-2026-000001"
                          "</tc:ExternalNumber><tc:ComplaintType>NO_HEATING</tc:ComplaintType><tc:StatusCode>10"
                          "</tc:StatusCode><tc:RegisteredAt>2026-01-19T10:00:00</tc:RegisteredAt></tc:Complaint>",
        "GetPlannedOutages": f"<tc:Outage><tc:OutageId>{value}</tc:OutageId><tc:Revision>1</tc:Revision><tc:Kind>"
                             "planned</tc:Kind><tc:Service>heating</tc:Service><tc:AddressLines/><tc:StartsAt>"
                             "2026-01-21T09:00:00</tc:StartsAt><tc:Reason>r</tc:Reason><tc:Cancelled>false"
                             "</tc:Cancelled></tc:Outage>",
        "RegisterComplaint": f"<tc:ComplaintId>{value}</tc:ComplaintId>",
    }[operation]
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n<soap:Envelope xmlns:soap="{SOAP}" '
            f'xmlns:tc="{NAMESPACE}"><soap:Body><tc:{operation}Response>{inner}</tc:{operation}Response>'
            "</soap:Body></soap:Envelope>").encode()


def _call(connector: TeplotsentralConnector, operation: str):
    if operation == "FindComplaints":
        return connector.find_jobs("1520-2026-000001")
    if operation == "GetPlannedOutages":
        return connector.fetch_planned_works(NOW, NOW + timedelta(days=5))
    return connector.create_job(JobDraft(
        reference="1520-2026-000001", idempotency_key="k", classifier_code="3.13", job_type="NO_HEATING",
        priority="urgent", street="вул. Соборності", house="12", description="Немає опалення",
        reported_at=NOW - timedelta(minutes=5)))


@pytest.mark.parametrize("operation", ["FindComplaints", "GetPlannedOutages", "RegisterComplaint"])
@pytest.mark.parametrize("status", [200, 500])
def test_teplotsentral_refuses_replies_with_entities_without_expanding_reading_or_fetching(
        heat, server, tripwire, listener, caplog, operation, status):
    caplog.set_level(logging.DEBUG)
    file, opened = tripwire
    for name, (doctype, value) in attacks(file, listener.url).items():
        serve_xml(server, attack_reply(operation, doctype, value), status=status)
        with pytest.raises(ConnectorError) as caught:
            _call(heat, operation)
        error = caught.value
        assert isinstance(error, AmbiguousError if operation == "RegisterComplaint" else RetriableError), name
        assert error.detail in REFUSALS, (name, error.detail)
        assert "unreadable or refused reply" in str(error), (name, str(error))
        assert CANARY not in str(error) and "expanded" not in str(error) and "lollol" not in str(error)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert CANARY not in logged and "lollollol" not in logged and "expanded" not in logged
    assert opened == [], "the parser opened the file an entity points at"
    assert listener.hits == [], "the parser fetched what an entity or DTD points at"


def test_teplotsentral_does_not_follow_xinclude_in_a_reply(heat, server, tripwire, listener, caplog):
    caplog.set_level(logging.DEBUG)
    file, opened = tripwire
    include = (f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{file}" parse="text"/>'
               f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{listener.url}/x" parse="text"/>')
    serve_xml(server, attack_reply("GetPlannedOutages", "", include))
    page = heat.fetch_planned_works(NOW, NOW + timedelta(days=5))
    assert page.works == [] and len(page.rejects) == 1  # an OutageId made of includes is no id
    assert CANARY not in json.dumps([r.payload for r in page.rejects] + [r.error for r in page.rejects], default=str)
    assert CANARY not in "\n".join(r.getMessage() for r in caplog.records)
    assert opened == [] and listener.hits == []


@pytest.fixture(scope="module")
def heat_sim() -> Iterator[TeplotsentralSimulator]:
    sim = TeplotsentralSimulator(seed=7).start()
    yield sim
    sim.stop()


def test_the_simulator_refuses_envelopes_with_entities_without_expanding_reading_or_fetching(
        heat_sim, tripwire, listener):
    file, opened = tripwire
    config = heat_sim.connection_config()
    security = (
        '<soap:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
        f'wssecurity-secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>{config.login}</wsse:Username>'
        f"<wsse:Password>{config.password}</wsse:Password></wsse:UsernameToken></wsse:Security></soap:Header>"
    )
    before = heat_sim.complaint_count()
    for name, (doctype, value) in attacks(file, listener.url).items():
        body = (f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n<soap:Envelope xmlns:soap="{SOAP}" '
                f'xmlns:tc="{NAMESPACE}">{security}<soap:Body><tc:RegisterComplaintRequest>'
                f"<tc:ExternalNumber>1520-2026-000009</tc:ExternalNumber><tc:ComplaintType>NO_HEATING"
                f"</tc:ComplaintType><tc:Address><tc:Street>вул. Соборності</tc:Street><tc:House>12</tc:House>"
                f"</tc:Address><tc:Description>{value}</tc:Description><tc:RegisteredAt>"
                f"{wall_text(datetime.now(KYIV))}</tc:RegisteredAt></tc:RegisterComplaintRequest></soap:Body>"
                "</soap:Envelope>").encode()
        reply = requests.post(config.base_url, data=body, timeout=10,
                              headers={"Content-Type": "text/xml; charset=utf-8"})
        assert reply.status_code == 500, name
        assert b"soap:Client" in reply.content and b"VALIDATION" in reply.content, (name, reply.content[:300])
        assert CANARY.encode() not in reply.content and b"lollollol" not in reply.content
    assert heat_sim.complaint_count() == before, "an envelope with a DTD registered a complaint"
    assert opened == [] and listener.hits == []


def test_the_simulator_goes_on_after_a_raw_change_with_an_unknown_code(heat_sim):
    connector = TeplotsentralConnector(heat_sim.connection_config(), timeouts=FAST)
    try:
        job = connector.create_job(JobDraft(
            reference="1520-2026-000077", idempotency_key="k", classifier_code="3.13", job_type="NO_HEATING",
            priority="urgent", street="вул. Соборності", house="14", description="Немає опалення",
            reported_at=datetime.now(UTC) - timedelta(minutes=1)))
    finally:
        connector.close()
    heat_sim.inject_raw_change(job.job_id, "95", "невідомий код")
    heat_sim.advance()


# at the engine: one notice must not cost the others -------------------------------------------------------

def test_a_notice_revision_beyond_32_bits_does_not_cost_the_other_notices(server, engine, sessions, request):
    starts = datetime.now(UTC) + timedelta(days=2)
    notice = {"kind": "planned", "service": "cold_water", "starts_at": starts.isoformat(),
              "ends_at": (starts + timedelta(hours=8)).isoformat(), "reason": "заміна засувки",
              "addresses": [{"street": "вул. Каткова", "houses": ["5", "7"]}], "state": "active"}
    server.serve({"/api/v1/planned-works": {"items": [{"id": "PW-00001", "version": 2**31, **notice},
                                                      {"id": "PW-00002", "version": 1, **notice}],
                                            "next_page": None}})
    manifest = load_registry()["vodokanal"]
    ctx = build_context(manifest, ConnectionConfig("vodokanal_api", server.url, password="vk-prop-key"), engine,
                        retry=RetryPolicy(attempts=1, initial=0.01))
    try:
        run_step(ctx, "pull_planned_works")
    finally:
        ctx.connector.close()
    with sessions() as session:
        published = set(session.scalars(select(Announcement.notice_id)))
        dead = set(session.scalars(select(DeadLetter.item_key)))
    assert "PW-00002" in published, "a readable notice was lost with its neighbour"
    assert "PW-00001" in published | dead
