"""The vodokanal connector against its simulator over real HTTP on loopback."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from connectors.vodokanal.connector import VodokanalConnector
from connectors.vodokanal.wire import STATUSES
from gateway.classifier import default_classifier
from gateway.connector import JobDraft, JobUpdate, Timeouts
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError
from gateway.mapping import load_mapping
from gateway.registry import PROJECT_ROOT, load_manifest
from gateway.toolkit.http import parse_retry_after
from simulators.contract import enum
from simulators.vodokanal import VodokanalSimulator

KYIV = ZoneInfo("Europe/Kyiv")
NOW = datetime(2024, 3, 11, 10, 0, tzinfo=KYIV)
API_KEY = "vk-SECRET-7f3a91"
PHONE = "+380671234567"
ORDERS = "/api/v1/work-orders"
JOB_TYPES = enum("vodokanal", "JobType")


@pytest.fixture(scope="module")
def server() -> Iterator[VodokanalSimulator]:
    """One running server for the module (stopping one takes half a second); reset before each test."""
    simulator = VodokanalSimulator(api_key=API_KEY, seed=7, clock=lambda: NOW, page_size=2)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(server: VodokanalSimulator) -> Iterator[VodokanalSimulator]:
    server.go_online()
    server.reset()
    yield server
    server.go_online()


@pytest.fixture
def conn(sim: VodokanalSimulator) -> Iterator[VodokanalConnector]:
    connector = VodokanalConnector(sim.connection_config(), timeouts=Timeouts(connect=1, read=3))
    yield connector
    connector.close()


def draft(reference: str = "1520-240311-0001", key: str = "dispatch-1", **changes) -> JobDraft:
    fields = {
        "reference": reference,
        "idempotency_key": key,
        "classifier_code": "3.1",
        "job_type": "NO_WATER_BUILDING",
        "priority": "urgent",
        "street": "вул. Соборності",
        "house": "14",
        "description": "Немає холодної води з 7 ранку у всьому під'їзді",
        "reported_at": NOW - timedelta(minutes=5),
    }
    fields.update(changes)
    return JobDraft(**fields)


# creates -------------------------------------------------------------------------------------------
def test_create_and_replay_with_same_key_make_one_order(sim, conn):
    first = conn.create_job(draft())
    again = conn.create_job(draft())
    assert first.job_id == again.job_id
    assert first.status == "NEW"
    assert sim.order_count() == 1
    assert sim.jobs_by_reference() == {"1520-240311-0001": [first.job_id]}


def test_create_sends_only_fields_present_in_the_draft(sim, conn):
    bare = conn.create_job(draft())
    payload = sim.job_payload(bare.job_id)
    assert set(payload) == {"external_ref", "job_type", "priority", "address", "description", "reported_at"}
    assert payload["address"] == {"street": "вул. Соборності", "house": "14"}
    assert datetime.fromisoformat(payload["reported_at"]) == NOW - timedelta(minutes=5)

    full = conn.create_job(draft("1520-2", "dispatch-2", flat="7", lat=47.91, lon=33.39, contact_phone=PHONE))
    payload = sim.job_payload(full.job_id)
    assert payload["contact_phone"] == PHONE
    assert payload["address"] == {"street": "вул. Соборності", "house": "14", "flat": "7", "lat": 47.91, "lon": 33.39}
    assert "contact_phone" not in sim.job(full.job_id)  # the API never echoes it


def test_same_key_with_changed_body_is_permanent_409(sim, conn):
    conn.create_job(draft())
    with pytest.raises(PermanentError, match="Idempotency-Key reused") as caught:
        conn.create_job(draft(description="Інший опис"))
    assert "HTTP 409" in str(caught.value)
    assert sim.order_count() == 1


def test_validation_error_names_fields_and_does_not_consume_the_key(sim, conn):
    with pytest.raises(PermanentError) as caught:
        conn.create_job(draft(job_type="BOILER_REPAIR", house=" "))
    message = str(caught.value)
    assert "HTTP 422" in message and "job_type unknown" in message and "address.house invalid" in message
    assert sim.order_count() == 0
    assert conn.create_job(draft()).job_id  # the same key now with a valid body
    assert sim.order_count() == 1


def test_simulator_refuses_missing_idempotency_key_and_wrong_api_key(sim):
    body = {"external_ref": "x"}
    no_key = requests.post(sim.url + ORDERS, json=body, headers={"X-Api-Key": API_KEY}, timeout=3)
    assert no_key.status_code == 400
    assert no_key.json()["errors"][0]["field"] == "Idempotency-Key"
    assert requests.get(sim.url + ORDERS, params={"external_ref": "x"}, timeout=3).status_code == 401
    wrong = requests.get(sim.url + ORDERS, params={"external_ref": "x"}, headers={"X-Api-Key": "nope"}, timeout=3)
    assert wrong.status_code == 401


def test_dropped_after_commit_is_ambiguous_then_lookup_and_retry_find_one_order(sim, conn):
    sim.faults.inject("drop_after_commit", method="POST", path=ORDERS)
    with pytest.raises(AmbiguousError):
        conn.create_job(draft())
    assert sim.order_count() == 1  # committed although the reply never came
    found = conn.find_jobs("1520-240311-0001")
    assert len(found) == 1 and found[0].reference == "1520-240311-0001" and found[0].status == "NEW"
    assert conn.create_job(draft()).job_id == found[0].job_id
    assert sim.order_count() == 1
    assert conn.find_jobs("1520-no-such") == []


# error classification ------------------------------------------------------------------------------
def _create(conn: VodokanalConnector) -> object:
    return conn.create_job(draft())


def _feed(conn: VodokanalConnector) -> object:
    return conn.fetch_changes(None, 10)


def _lookup(conn: VodokanalConnector) -> object:
    return conn.find_jobs("1520-240311-0001")


def _works(conn: VodokanalConnector) -> object:
    return conn.fetch_planned_works(NOW, NOW + timedelta(days=30))


@pytest.mark.parametrize(
    ("fault", "method", "call", "expected", "orders_after"),
    [
        ({"kind": "server_error", "status": 503}, "POST", _create, AmbiguousError, 0),
        ({"kind": "server_error", "status": 500}, "GET", _feed, RetriableError, 0),
        ({"kind": "html_error", "status": 502}, "GET", _works, RetriableError, 0),
        ({"kind": "reset"}, "POST", _create, AmbiguousError, 0),
        ({"kind": "reset"}, "GET", _lookup, RetriableError, 0),
        ({"kind": "truncated"}, "POST", _create, AmbiguousError, 1),
        ({"kind": "truncated"}, "GET", _feed, RetriableError, 0),
        ({"kind": "malformed"}, "POST", _create, AmbiguousError, 1),
        ({"kind": "malformed"}, "GET", _works, RetriableError, 0),
        ({"kind": "x-maintenance", "retry_after": "30"}, "POST", _create, RetriableError, 0),
    ],
    ids=lambda v: v["kind"] if isinstance(v, dict) else getattr(v, "__name__", str(v)),
)
def test_failures_are_classified(sim, conn, fault, method, call, expected, orders_after):
    params = dict(fault)
    sim.faults.inject(params.pop("kind"), method=method, **params)
    with pytest.raises(expected) as caught:
        call(conn)
    assert type(caught.value) is expected
    assert sim.order_count() == orders_after
    if fault["kind"] == "x-maintenance":
        assert caught.value.retry_after == 30


def test_read_timeout_is_ambiguous_on_create_and_retriable_on_read(sim):
    connector = VodokanalConnector(sim.connection_config(), timeouts=Timeouts(connect=1, read=0.3))
    sim.faults.inject("latency", method="POST", seconds=0.8)
    with pytest.raises(AmbiguousError, match="read timeout"):
        connector.create_job(draft())
    sim.faults.inject("latency", method="GET", seconds=0.8)
    with pytest.raises(RetriableError, match="read timeout"):
        connector.fetch_changes("0", 10)
    # The slow server still commits the order after the client gave up: that is why it is ambiguous.
    deadline = time.monotonic() + 10
    while sim.order_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [job.reference for job in conn_find(sim, "1520-240311-0001")] == ["1520-240311-0001"]
    connector.close()


def conn_find(sim: VodokanalSimulator, reference: str) -> list:
    connector = VodokanalConnector(sim.connection_config())
    try:
        return list(connector.find_jobs(reference))
    finally:
        connector.close()


def test_connection_refused_is_retriable_for_writes_too(sim):
    sim.go_offline()
    connector = VodokanalConnector(sim.connection_config(), timeouts=Timeouts(connect=1, read=1))
    for call in (_create, _feed):
        with pytest.raises(RetriableError, match="cannot connect") as caught:
            call(connector)
        assert type(caught.value) is RetriableError
    connector.close()
    sim.go_online()
    assert VodokanalConnector(sim.connection_config()).fetch_changes(None, 1).changes == []


def test_429_retry_after_in_seconds_and_as_http_date(sim, conn):
    sim.faults.inject("x-throttle", retry_after="7")
    with pytest.raises(RetriableError) as caught:
        conn.create_job(draft())
    assert caught.value.retry_after == 7
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    sim.faults.inject("x-throttle", retry_after=later)
    with pytest.raises(RetriableError) as caught:
        conn.fetch_changes(None, 5)
    assert 60 < caught.value.retry_after <= 121
    assert sim.order_count() == 0


def test_parse_retry_after_forms():
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0  # in the past: now
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_wrong_api_key_is_fatal_and_not_echoed(sim):
    config = dataclasses.replace(sim.connection_config(), password="vk-WRONG-0000")
    connector = VodokanalConnector(config)
    for call in (_create, _feed, _works):
        with pytest.raises(FatalError) as caught:
            call(connector)
        assert "vk-WRONG-0000" not in str(caught.value) and API_KEY not in str(caught.value)
    connector.close()


def test_unknown_order_for_a_note_is_permanent(conn):
    with pytest.raises(PermanentError, match="no such order"):
        conn.push_update("WO-999999", JobUpdate("details", "Додаткова інформація", NOW))


# change feed -----------------------------------------------------------------------------------------
def test_feed_pages_have_no_gaps_or_repeats_and_resume_from_cursor(sim, conn):
    ids = [conn.create_job(draft(f"1520-{n}", f"k-{n}")).job_id for n in range(3)]
    sim.advance(3)
    seen, cursor = [], None
    while True:
        page = conn.fetch_changes(cursor, 2)
        assert len(page.changes) <= 2 and not page.rejects
        seen.extend(page.changes)
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert [c.position for c in seen] == list(range(1, sim.last_seq() + 1))
    assert [c.change_id for c in seen] == [str(c.position) for c in seen]
    assert all(c.changed_at.utcoffset() is not None for c in seen)
    last_status = {c.job_id: c.status for c in seen}
    assert last_status == {i: sim.job(i)["status"] for i in ids}
    assert {c.reference for c in seen} == {"1520-0", "1520-1", "1520-2"}

    assert conn.fetch_changes(cursor, 2).changes == []  # nothing new
    sim.set_job_status(ids[0], "COMPLETED")
    page = conn.fetch_changes(cursor, 2)
    assert [(c.position, c.job_id, c.status) for c in page.changes] == [(int(cursor) + 1, ids[0], "COMPLETED")]


def test_malformed_feed_items_are_rejected_and_the_cursor_moves_past_them(sim, conn):
    order = conn.create_job(draft()).job_id
    sim.inject_feed_item(order_id=order, external_ref="1520-240311-0001", status="ACCEPTED", changed_at="вчора")
    sim.inject_feed_item(order_id=order, external_ref="1520-240311-0001", changed_at=NOW.isoformat())
    sim.inject_feed_item(order_id=order, status="ON_HOLD", changed_at=NOW.isoformat())
    sim.inject_feed_item(order_id=order, status="ACCEPTED", changed_at="2024-03-11T10:00:00")  # no offset
    sim.set_job_status(order, "ACCEPTED")
    page = conn.fetch_changes(None, 50)
    assert [c.position for c in page.changes] == [1, 6]
    assert [r.key for r in page.rejects] == ["2", "3", "4", "5"]
    assert [r.error.split(":")[0] for r in page.rejects] == ["changed_at", "status", "status", "changed_at"]
    assert page.rejects[0].payload["changed_at"] == "вчора"
    assert page.next_cursor == "6" and page.has_more is False

    first = conn.fetch_changes(None, 3)  # a page that ends with rejects still moves the cursor past them
    assert [c.position for c in first.changes] == [1] and first.next_cursor == "3" and first.has_more
    rest = conn.fetch_changes(first.next_cursor, 3)
    assert [c.position for c in rest.changes] == [6] and [r.key for r in rest.rejects] == ["4", "5"]


# notes ---------------------------------------------------------------------------------------------------
def test_notes_withdraw_and_return_for_rework(sim, conn):
    withdrawn = conn.create_job(draft("1520-a", "k-a")).job_id
    done = conn.create_job(draft("1520-b", "k-b")).job_id
    update = JobUpdate("withdrawn", "Заявник відкликав заявку: вода з'явилася", NOW)
    conn.push_update(withdrawn, update)
    conn.push_update(withdrawn, update)  # a repeat after an ambiguous failure adds nothing
    assert sim.job(withdrawn)["status"] == "CANCELLED"
    assert [(n["kind"], n["text"]) for n in sim.notes(withdrawn)] == [("withdrawn", update.text)]

    sim.set_job_status(done, "COMPLETED")
    conn.push_update(done, JobUpdate("details", "Мешканець уточнив: тече у підвалі", NOW))
    assert sim.job(done)["status"] == "COMPLETED"
    conn.push_update(done, JobUpdate("rework", "Повернуто: вода досі відсутня", NOW + timedelta(minutes=1)))
    assert sim.job(done)["status"] == "IN_PROGRESS"
    assert [n["kind"] for n in sim.notes(done)] == ["details", "rework"]

    statuses = [(c.job_id, c.status) for c in conn.fetch_changes(None, 100).changes]
    assert (withdrawn, "CANCELLED") in statuses
    assert statuses[-1] == (done, "IN_PROGRESS")


def test_note_dropped_after_commit_is_ambiguous_and_safe_to_repeat(sim, conn):
    order = conn.create_job(draft()).job_id
    sim.faults.inject("drop_after_commit", method="POST", path="/notes")
    update = JobUpdate("details", "Номер під'їзду: 3", NOW)
    with pytest.raises(AmbiguousError):
        conn.push_update(order, update)
    conn.push_update(order, update)
    assert len(sim.notes(order)) == 1


# planned works -------------------------------------------------------------------------------------------
def test_planned_works_are_converted_across_pages(sim, conn):
    default = sim.add_planned_work()
    emergency = sim.add_planned_work(
        kind="emergency",
        service="sewage",
        addresses=[
            {"street": "вул. Соборності", "houses": ["5", "7", "9а"]},
            {"street": "пров. Ковальський", "houses": "all"},
        ],
        starts_at=NOW - timedelta(hours=1),
        ends_at=None,
        tanker_location=None,
    )
    even_side = {"from": 12, "to": 28, "side": "even"}
    cancelled = sim.add_planned_work(addresses=[{"street": "просп. Металургів", "houses": even_side}])
    sim.cancel_planned_work(cancelled)
    far = sim.add_planned_work(starts_at=NOW + timedelta(days=60), ends_at=NOW + timedelta(days=60, hours=8))
    revised = sim.add_planned_work()
    sim.revise_planned_work(revised)

    page = conn.fetch_planned_works(NOW, NOW + timedelta(days=30))
    assert not page.rejects
    works = {w.notice_id: w for w in page.works}
    assert set(works) == {default, emergency, cancelled, revised}  # four notices on two pages of two
    assert far not in works

    first = works[default]
    tomorrow_9 = datetime(2024, 3, 12, 9, 0, tzinfo=KYIV)
    assert (first.revision, first.kind, first.service, first.cancelled) == (1, "planned", "cold_water", False)
    assert first.starts_at == tomorrow_9 and first.ends_at == tomorrow_9 + timedelta(hours=8)
    assert first.announced_at == NOW and first.reason and first.households and first.contact_phone
    assert len(first.addresses) == 1 and len(first.addresses[0].ranges) == 1

    sos = works[emergency]
    assert (sos.kind, sos.service, sos.ends_at, sos.tanker_location) == ("emergency", "sewage", None, None)
    listed, whole = sos.addresses
    assert listed.houses == ("5", "7", "9а") and listed.covers("вулиця Соборності", "9 А")
    assert not listed.covers("вул. Соборності", "11")
    assert whole.whole_street and whole.covers("Ковальський", "100")

    gone = works[cancelled]
    assert gone.cancelled and gone.revision == 2
    (metallurgists,) = gone.addresses
    assert metallurgists.ranges[0].parity == "even"
    assert metallurgists.covers("просп. Металургів", "14") and not metallurgists.covers("просп. Металургів", "15")
    assert not metallurgists.covers("просп. Металургів", "30")

    assert works[revised].revision == 2
    assert works[revised].ends_at == works[revised].starts_at + timedelta(hours=10)


def test_unreadable_notices_are_rejected_and_bad_addresses_kept_verbatim(sim, conn):
    bad_kind = sim.add_planned_work(kind="repair")
    bad_start = sim.add_planned_work(starts_at="завтра зранку")
    odd_range = sim.add_planned_work(
        addresses=[
            {"street": "вул. Каткова", "houses": {"from": 30, "to": 10}},
            {"street": "вул. Тбіліська", "houses": ["3", None]},
        ]
    )
    page = conn.fetch_planned_works(NOW, NOW + timedelta(days=30))
    assert {r.key: r.error.split(":")[0] for r in page.rejects} == {bad_kind: "kind", bad_start: "starts_at"}
    (work,) = page.works
    assert work.notice_id == odd_range
    assert [a.street for a in work.addresses] == ["вул. Тбіліська"] and work.addresses[0].houses == ("3",)
    assert work.unparsed_lines == ('вул. Каткова: {"from": 30, "to": 10}', "вул. Тбіліська: null")


# secrets ------------------------------------------------------------------------------------------------
def test_api_key_and_phone_never_reach_logs_or_errors(sim, conn, caplog):
    caplog.set_level(logging.DEBUG)
    messages = []
    order = conn.create_job(draft(contact_phone=PHONE)).job_id
    conn.find_jobs("1520-240311-0001")
    conn.fetch_changes(None, 10)
    conn.push_update(order, JobUpdate("details", "Деталі", NOW))
    conn.fetch_planned_works(NOW, NOW + timedelta(days=1))
    for fault in ("drop_after_commit", "server_error"):
        sim.faults.inject(fault, method="POST")
        with pytest.raises(AmbiguousError) as caught:
            conn.create_job(draft("1520-x", f"k-{fault}", contact_phone=PHONE))
        messages.append(f"{caught.value} {caught.value.detail}")
    with pytest.raises(PermanentError) as caught:
        conn.create_job(draft("1520-y", "k-y", job_type="NOPE", contact_phone="067123456789012"))
    messages.append(f"{caught.value} {caught.value.detail}")
    echo = json.dumps({"error": "internal", "detail": f"cannot save {PHONE} for key {API_KEY}"})
    sim.faults.inject("server_error", method="GET", status=500, body=echo)  # a server that echoes input
    with pytest.raises(RetriableError) as caught:
        conn.fetch_changes(None, 10)
    assert "cannot save [phone] for key ***" in caught.value.detail
    messages.append(f"{caught.value} {caught.value.detail}")
    wrong = VodokanalConnector(dataclasses.replace(sim.connection_config(), password=API_KEY + "x"))
    with pytest.raises(FatalError) as caught:
        wrong.create_job(draft(contact_phone=PHONE))
    messages.append(f"{caught.value} {caught.value.detail}")
    assert any(r.name == "gateway.connectors.vodokanal" and r.levelno == logging.DEBUG for r in caplog.records)
    text = caplog.text + "\n".join(messages)
    assert API_KEY not in text and PHONE not in text and "671234567" not in text
    assert "contact_phone invalid" in messages[2] and "job_type unknown" in messages[2]
    assert API_KEY not in repr(conn.connection) and API_KEY not in repr(conn)


# mapping, manifest and simulator ------------------------------------------------------------------
def test_mapping_serves_every_vodokanal_item_with_known_job_types():
    classifier = default_classifier()
    items = [i for i in classifier.current.items if i.executor == "vodokanal"]
    assert {i.code for i in items} >= {f"3.{n}" for n in range(1, 13)} | {"32.2", "32.4", "32.5"}
    mapping = load_mapping(
        PROJECT_ROOT / "mappings" / "vodokanal.yaml",
        utility_statuses=VodokanalConnector.statuses,
        served_items=[i.key for i in items],
    )
    assert mapping.classifier_version == "2021-329"
    priority_for = {"urgent_emergency": "emergency", "emergency": "urgent", "ordinary": "normal"}
    for item in items:
        rule = mapping.rule_for_item(item.key)
        assert rule.job_type in JOB_TYPES, item.code  # the utility's own list, from its contract document
        assert rule.priority == priority_for[item.urgency], item.code
    assert mapping.status_for("COMPLETED") == "done" and mapping.status_for("FALSE_CALL") == "false_call"
    assert mapping.send_fields == {"contact_phone", "flat", "coordinates"}


def test_manifest_points_at_this_connector_and_simulator():
    manifest = load_manifest(Path(PROJECT_ROOT / "connectors" / "vodokanal" / "manifest.yaml"))
    assert manifest.connector_class is VodokanalConnector
    assert manifest.simulator_class() is VodokanalSimulator
    assert (manifest.conn_id, manifest.timeouts) == ("vodokanal_api", Timeouts(connect=3, read=15))
    assert VodokanalConnector.idempotent_create and VodokanalConnector.statuses == STATUSES


def _history(sim: VodokanalSimulator) -> list[tuple[str, str]]:
    connector = VodokanalConnector(sim.connection_config())
    for n in range(12):
        connector.create_job(draft(f"1520-{n}", f"k-{n}"))
    sim.advance(5)
    history = [(c.job_id, c.status) for c in connector.fetch_changes(None, 500).changes]
    connector.close()
    return history


def test_simulator_is_deterministic_and_walks_the_whole_life(sim):
    history = _history(sim)
    with VodokanalSimulator(api_key=API_KEY, seed=sim.seed, clock=lambda: NOW) as twin:
        assert _history(twin) == history
    sim.reset()
    assert _history(sim) == history
    finals = {}
    for job_id, status in history:
        finals[job_id] = status
    assert set(finals.values()) <= {"COMPLETED", "REJECTED_NOT_OURS", "DUPLICATE", "FALSE_CALL"}
    assert "COMPLETED" in finals.values() and len(set(finals.values())) > 1

    sim.reset()
    rates = sim.reject_rate, sim.duplicate_rate, sim.false_call_rate
    sim.reject_rate = sim.duplicate_rate = sim.false_call_rate = 0
    try:
        connector = VodokanalConnector(sim.connection_config())
        job_id = connector.create_job(draft()).job_id
        sim.advance(4)
        page = connector.fetch_changes(None, 10)
    finally:
        sim.reject_rate, sim.duplicate_rate, sim.false_call_rate = rates
    assert [c.status for c in page.changes] == ["NEW", "ACCEPTED", "CREW_ASSIGNED", "IN_PROGRESS", "COMPLETED"]
    assert all(c.job_id == job_id for c in page.changes)
    assert "Бригада" in page.changes[-1].comment


def test_default_notice_and_revision_without_changes(sim):
    notice_id = sim.add_planned_work()
    conn = VodokanalConnector(sim.connection_config())
    (before,) = conn.fetch_planned_works(NOW, NOW + timedelta(days=3)).works
    sim.revise_planned_work(notice_id)
    (after,) = conn.fetch_planned_works(NOW, NOW + timedelta(days=3)).works
    assert after.revision == before.revision + 1 and after.ends_at > before.ends_at
    assert before.starts_at.date() == (NOW + timedelta(days=1)).date()
    assert set(STATUSES) == set(VodokanalConnector.statuses)
