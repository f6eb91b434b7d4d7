"""The teplotsentral connector against its SOAP simulator, over real HTTP with zeep (no mocks)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from lxml import etree

from connectors.teplotsentral.connector import TeplotsentralConnector
from connectors.teplotsentral.wire import BINDING_NAME, NAMESPACE, SCREENED_LISTS, WSDL_FILE
from gateway.classifier import default_classifier
from gateway.connections import ConnectionConfig
from gateway.connector import JobDraft, JobUpdate, Timeouts
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError
from gateway.mapping import load_mapping
from gateway.registry import PROJECT_ROOT, load_manifest
from gateway.toolkit.localtime import candidates, resolve, to_wall, wall_floor, wall_span
from gateway.toolkit.redact import normalize_phone
from gateway.toolkit.redact import redact as redact_text
from gateway.toolkit.soap import build_screened_service
from simulators.teplotsentral import (
    COMPLAINT_TYPES,
    ENDPOINT_PATH,
    STATUS_CODES,
    XSD_FILE,
    ManualClock,
    TeplotsentralSimulator,
)

KYIV = ZoneInfo("Europe/Kyiv")
START = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)  # 10:00 in Kyiv (winter, UTC+2)
PASSWORD = "teplo-SECRET-41f7"
PHONE = "+380671234567"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SPRING_SWITCH = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 EET -> 04:00 EEST
AUTUMN_SWITCH = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 04:00 EEST -> 03:00 EET


# fixtures ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="module")
def server(clock: ManualClock) -> Iterator[TeplotsentralSimulator]:
    """One server for the module (stopping one takes half a second); reset before each test."""
    simulator = TeplotsentralSimulator(seed=7, password=PASSWORD, clock=clock)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(server: TeplotsentralSimulator, clock: ManualClock) -> Iterator[TeplotsentralSimulator]:
    clock.set(START)
    server.go_online()
    server.reset()
    yield server
    server.go_online()


def make_connector(sim: TeplotsentralSimulator, clock: ManualClock, **kwargs) -> TeplotsentralConnector:
    timeouts = kwargs.pop("timeouts", Timeouts(connect=2, read=5))
    config = sim.connection_config()
    if kwargs:
        config = ConnectionConfig(
            config.conn_id,
            config.base_url,
            kwargs.pop("login", config.login),
            kwargs.pop("password", config.password),
            kwargs.pop("extra", {}),
        )
    return TeplotsentralConnector(config, timeouts=timeouts, clock=clock)


@pytest.fixture
def conn(sim: TeplotsentralSimulator, clock: ManualClock) -> Iterator[TeplotsentralConnector]:
    connector = make_connector(sim, clock)
    yield connector
    connector.close()


def draft(reference: str = "1520-2026-000123", **changes) -> JobDraft:
    fields = {
        "reference": reference,
        "idempotency_key": f"dispatch-{reference}",
        "classifier_code": "3.13",
        "job_type": "NO_HEATING",
        "priority": "urgent",
        "street": "вул. Соборності",
        "house": "14",
        "flat": "27",
        "description": "Холодні батареї у всій квартирі з учорашнього вечора",
        "reported_at": START - timedelta(minutes=5),
        "contact_phone": "067 123 45 67",
    }
    fields.update(changes)
    return JobDraft(**fields)


def raw_post(
    sim: TeplotsentralSimulator, body: str, *, password: str = PASSWORD, header: bool = True
) -> etree._Element:
    """A hand-written envelope; returns the parsed reply (faults included)."""
    security = (
        f'<soap:Header><wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
        f"<wsse:Username>{sim.username}</wsse:Username><wsse:Password>{password}</wsse:Password>"
        f"</wsse:UsernameToken></wsse:Security></soap:Header>"
        if header
        else ""
    )
    envelope = (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:tc="{NAMESPACE}">'
        f"{security}<soap:Body>{body}</soap:Body></soap:Envelope>"
    )
    reply = requests.post(
        sim.url + ENDPOINT_PATH, data=envelope.encode(), timeout=5, headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    return etree.fromstring(reply.content)


def fault_code(reply: etree._Element) -> tuple[str | None, str | None]:
    fault = reply.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    if fault is None:
        return None, None
    return fault.findtext("faultcode"), fault.findtext(f"detail/{{{NAMESPACE}}}FaultDetail/{{{NAMESPACE}}}Code")


# the contract files -------------------------------------------------------------------------------------
def test_simulator_serves_the_repository_wsdl_and_the_connector_never_fetches_it(sim, conn):
    wsdl = requests.get(sim.url + ENDPOINT_PATH, params={"wsdl": ""}, timeout=5)
    doc = etree.fromstring(wsdl.content)
    address = doc.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == sim.url + ENDPOINT_PATH
    assert b"ComplaintServiceSoapBinding" in wsdl.content
    xsd = requests.get(sim.url + ENDPOINT_PATH, params={"xsd": XSD_FILE.name}, timeout=5)
    assert xsd.content == XSD_FILE.read_bytes()
    # The file itself keeps a placeholder address: the real one comes from the Connection.
    assert ".invalid/" in WSDL_FILE.read_text(encoding="utf-8")

    sim.request_log.clear()
    conn.create_job(draft())
    conn.find_jobs("1520-2026-000123")
    assert [method for _, method, _ in sim.request_log] == ["POST", "POST"]


def test_zeep_client_is_built_lazily_not_at_construction(sim, clock):
    connector = make_connector(sim, clock)
    assert connector._soap._service is None
    connector.find_jobs("1520-2026-000001")
    assert connector._soap._service is not None
    connector.close()


# create / find --------------------------------------------------------------------------------------------
def test_register_and_find_round_trip(sim, conn):
    result = conn.create_job(draft())
    assert result.job_id and result.status == "10"
    assert sim.job_payload(result.job_id) == {
        "ExternalNumber": "1520-2026-000123",
        "ComplaintType": "NO_HEATING",
        "Address": {"Street": "вул. Соборності", "House": "14", "Flat": "27"},
        "Description": "Холодні батареї у всій квартирі з учорашнього вечора",
        "Phone": PHONE,
        "RegisteredAt": "2026-01-15T09:55:00",  # Kyiv wall time, no offset
    }
    [job] = conn.find_jobs("1520-2026-000123")
    assert (job.job_id, job.reference, job.status) == (result.job_id, "1520-2026-000123", "10")
    assert job.created_at == START - timedelta(minutes=5)
    assert conn.find_jobs("1520-2026-999999") == []


def test_optional_fields_are_left_out_and_emergencies_are_marked(sim, conn):
    result = conn.create_job(draft(flat=None, contact_phone=None, priority="emergency", job_type="MAIN_BURST"))
    payload = sim.job_payload(result.job_id)
    assert "Phone" not in payload and "Flat" not in payload["Address"]
    assert payload["Description"].startswith("ТЕРМІНОВО")


def test_the_service_is_not_idempotent(sim, conn):
    first = conn.create_job(draft())
    second = conn.create_job(draft())
    assert first.job_id != second.job_id
    assert sim.jobs_by_reference()["1520-2026-000123"] == [first.job_id, second.job_id]
    assert sim.complaint_count() == 2
    assert {j.job_id for j in conn.find_jobs("1520-2026-000123")} == {first.job_id, second.job_id}
    assert TeplotsentralConnector.idempotent_create is False


def test_create_dropped_after_commit_is_ambiguous_and_find_shows_exactly_one(sim, conn):
    sim.faults.inject("drop_after_commit", method="POST")
    with pytest.raises(AmbiguousError):
        conn.create_job(draft())
    assert sim.complaint_count() == 1
    [job] = conn.find_jobs("1520-2026-000123")
    assert job.job_id == sim.jobs_by_reference()["1520-2026-000123"][0]


# failures --------------------------------------------------------------------------------------------------
CREATE_FAULTS = [
    # kind, params, error on create, complaints committed
    ("x-db-locked", {}, RetriableError, 0),
    ("x-internal", {}, RetriableError, 0),
    ("html_error", {"status": 502}, AmbiguousError, 0),
    ("html_error", {"status": 503}, AmbiguousError, 0),
    ("server_error", {"status": 503}, AmbiguousError, 0),
    ("reset", {}, AmbiguousError, 0),
    ("drop_after_commit", {}, AmbiguousError, 1),
    ("truncated", {}, AmbiguousError, 1),
    ("malformed", {}, AmbiguousError, 1),
    ("x-evil-xml", {"variant": "bomb"}, AmbiguousError, 1),
    ("x-evil-xml", {"variant": "external"}, AmbiguousError, 1),
]


@pytest.mark.parametrize(
    ("kind", "params", "error", "committed"),
    CREATE_FAULTS,
    ids=[f"{k}-{p.get('status') or p.get('variant') or ''}" for k, p, _, _ in CREATE_FAULTS],
)
def test_create_failures_are_classified(sim, conn, kind, params, error, committed):
    sim.faults.inject(kind, method="POST", **params)
    with pytest.raises(error) as caught:
        conn.create_job(draft())
    assert type(caught.value) is error
    assert sim.complaint_count() == committed
    assert "root:" not in str(caught.value) and "lollol" not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "params"),
    [(k, p) for k, p, _, _ in CREATE_FAULTS],
    ids=[f"{k}-{p.get('status') or p.get('variant') or ''}" for k, p, _, _ in CREATE_FAULTS],
)
def test_read_failures_are_retriable(sim, conn, kind, params):
    sim.faults.inject(kind, method="POST", **params)
    with pytest.raises(RetriableError):
        conn.find_jobs("1520-2026-000123")
    sim.faults.inject(kind, method="POST", **params)
    with pytest.raises(RetriableError):
        conn.fetch_changes(None, 50)


def test_server_faults_carry_their_detail_code(sim, conn):
    sim.faults.inject("x-db-locked", method="POST")
    with pytest.raises(RetriableError) as caught:
        conn.create_job(draft())
    assert caught.value.detail == "soap:Server DB_LOCKED"


def test_unknown_complaint_type_is_permanent(sim, conn):
    with pytest.raises(PermanentError) as caught:
        conn.create_job(draft(job_type="NO_COLD_WATER"))
    assert caught.value.detail == "soap:Client UNKNOWN_TYPE"
    assert sim.complaint_count() == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"house": "14" * 10},  # longer than the XSD's 16 characters: schema-invalid envelope
        {"reported_at": START + timedelta(hours=2)},  # schema-valid, but a bad field: in the future
        {"description": "   "},  # blank
    ],
    ids=["schema-invalid", "future", "blank"],
)
def test_invalid_requests_are_permanent_validation_faults(sim, conn, changes):
    with pytest.raises(PermanentError) as caught:
        conn.create_job(draft(**changes))
    assert caught.value.detail == "soap:Client VALIDATION"
    assert sim.complaint_count() == 0


def test_fault_text_echoing_a_phone_is_masked_in_the_error(sim, conn):
    with pytest.raises(PermanentError) as caught:
        conn.create_job(draft(reference="0671234567 x"))  # fails the XSD pattern; lxml quotes the value
    assert "VALIDATION" in caught.value.detail
    assert "0671234567" not in str(caught.value)


def test_wrong_credentials_are_fatal(sim, clock):
    connector = make_connector(sim, clock, password="wrong-password")
    with pytest.raises(FatalError) as caught:
        connector.create_job(draft())
    assert caught.value.detail == "soap:Client AUTH"
    assert "wrong-password" not in str(caught.value)
    assert sim.complaint_count() == 0


def test_password_digest_is_accepted_and_checked(sim, clock):
    good = make_connector(sim, clock, extra={"password_digest": True})
    assert good.create_job(draft()).job_id
    bad = make_connector(sim, clock, password="nope", extra={"password_digest": True})
    with pytest.raises(FatalError):
        bad.find_jobs("1520-2026-000123")


def test_connection_refused_is_retriable_even_for_a_create(sim, conn):
    sim.go_offline()
    with pytest.raises(RetriableError):
        conn.create_job(draft())
    sim.go_online()
    assert sim.complaint_count() == 0


def test_read_timeout_is_ambiguous_for_writes_and_retriable_for_reads(sim, clock):
    connector = make_connector(sim, clock, timeouts=Timeouts(connect=1, read=0.2))
    sim.faults.inject("latency", method="POST", seconds=0.6)
    with pytest.raises(AmbiguousError):
        connector.create_job(draft())
    sim.faults.inject("latency", method="POST", seconds=0.6)
    with pytest.raises(RetriableError):
        connector.find_jobs("1520-2026-000123")


def test_wrong_endpoint_is_fatal(sim, clock):
    config = sim.connection_config()
    connector = TeplotsentralConnector(
        ConnectionConfig(config.conn_id, sim.url + "/ws/Nowhere", config.login, config.password), clock=clock
    )
    with pytest.raises(FatalError):
        connector.find_jobs("1520-2026-000123")


def test_missing_credentials_are_fatal(sim, clock):
    config = sim.connection_config()
    connector = TeplotsentralConnector(ConnectionConfig(config.conn_id, config.base_url), clock=clock)
    with pytest.raises(FatalError):
        connector.find_jobs("1520-2026-000123")


# the simulator's own checks (hand-written envelopes) -----------------------------------------------------------
def test_simulator_rejects_schema_invalid_envelopes(sim):
    reply = raw_post(
        sim, "<tc:RegisterComplaintRequest><tc:ExternalNumber>1520-1</tc:ExternalNumber></tc:RegisterComplaintRequest>"
    )
    assert fault_code(reply) == ("soap:Client", "VALIDATION")
    reply = raw_post(
        sim,
        "<tc:GetStatusChangesRequest><tc:From>2026-01-15T10:00:00+02:00</tc:From>"
        "<tc:To>2026-01-15T11:00:00</tc:To></tc:GetStatusChangesRequest>",
    )
    assert fault_code(reply) == ("soap:Client", "VALIDATION")  # an offset is not local time


def test_simulator_checks_the_token(sim):
    body = "<tc:FindComplaintsRequest><tc:ExternalNumber>1520-1</tc:ExternalNumber></tc:FindComplaintsRequest>"
    assert fault_code(raw_post(sim, body, header=False)) == ("soap:Client", "AUTH")
    assert fault_code(raw_post(sim, body, password="guess")) == ("soap:Client", "AUTH")
    assert fault_code(raw_post(sim, body)) == (None, None)


def test_simulator_refuses_dtds_and_entities_in_requests(sim):
    evil = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:tc="{NAMESPACE}"><soap:Body><tc:FindComplaintsRequest>'
        f"<tc:ExternalNumber>&xxe;</tc:ExternalNumber></tc:FindComplaintsRequest></soap:Body></soap:Envelope>"
    )
    reply = requests.post(sim.url + ENDPOINT_PATH, data=evil.encode(), timeout=5, headers={"Content-Type": "text/xml"})
    assert reply.status_code == 500
    assert fault_code(etree.fromstring(reply.content)) == ("soap:Client", "VALIDATION")
    assert b"root:" not in reply.content


# comments ------------------------------------------------------------------------------------------------------
def test_push_update_adds_a_comment(sim, conn):
    job_id = conn.create_job(draft()).job_id
    conn.push_update(job_id, JobUpdate(kind="rework", text="Мешканка повідомляє, що батареї досі холодні", at=START))
    [comment] = sim.comments(job_id)
    assert "доопрацювання" in comment and "досі холодні" in comment
    with pytest.raises(PermanentError):
        conn.push_update("999999", JobUpdate(kind="details", text="Код під'їзду 45", at=START))


def test_comment_dropped_after_commit_is_ambiguous(sim, conn):
    job_id = conn.create_job(draft()).job_id
    sim.faults.inject("drop_after_commit", method="POST")
    with pytest.raises(AmbiguousError):
        conn.push_update(job_id, JobUpdate(kind="withdrawn", text="Опалення з'явилося", at=START))
    assert len(sim.comments(job_id)) == 1


# logging ---------------------------------------------------------------------------------------------------------
def test_envelopes_are_logged_with_password_and_phones_masked(sim, conn, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, zeep's own included
    job_id = conn.create_job(draft(description="Передзвоніть на (067) 765-43-21 або 0501112233")).job_id
    conn.find_jobs("1520-2026-000123")
    text = caplog.text
    assert "SOAP request RegisterComplaint" in text and "SOAP reply FindComplaints" in text
    assert "UsernameToken" in text and job_id in text
    assert PASSWORD not in text
    for digits in ("1234567", "765-43-21", "0501112233", "671234567"):
        assert digits not in text
    assert "[phone]" in text and "***" in text


# status changes ----------------------------------------------------------------------------------------------------
def pull_all(conn: TeplotsentralConnector, cursor: str | None) -> tuple[list, str | None, list]:
    """One sync step: pages until has_more is False."""
    changes, rejects = [], []
    while True:
        page = conn.fetch_changes(cursor, 50)
        changes += page.changes
        rejects += page.rejects
        cursor = page.next_cursor
        if not page.has_more:
            return changes, cursor, rejects


def truth(sim: TeplotsentralSimulator) -> list[tuple[str, str, datetime]]:
    return [(c["complaint_id"], c["status"], c["changed_at"]) for c in sim.change_log()]


def test_overlapping_windows_return_a_change_again_at_the_service(sim, clock):
    service, transport, _ = build_screened_service(
        wsdl=WSDL_FILE,
        binding=BINDING_NAME,
        screened_lists=SCREENED_LISTS,
        address=sim.url + ENDPOINT_PATH,
        username=sim.username,
        password=PASSWORD,
        use_digest=False,
        connect_timeout=2,
        read_timeout=5,
        logger=logging.getLogger("test"),
    )
    sim.set_job_status(_register(sim, clock), "20")
    clock.advance(minutes=3)
    first = service.GetStatusChanges(From="2026-01-15T09:55:00", To="2026-01-15T10:05:00")
    second = service.GetStatusChanges(From="2026-01-15T10:00:00", To="2026-01-15T10:10:00")
    assert [c.StatusCode for c in first] == [c.StatusCode for c in second] == ["10", "20"]
    transport.session.close()


def _register(sim: TeplotsentralSimulator, clock: ManualClock) -> str:
    connector = make_connector(sim, clock)
    job_id = connector.create_job(draft()).job_id
    connector.close()
    return job_id


def test_late_writes_and_overlapping_windows_give_every_change_exactly_once(sim, conn, clock):
    cursor, seen = None, []
    for tick in range(60):
        if tick % 6 == 0:
            conn.create_job(draft(reference=f"1520-2026-{tick:06d}"))
        if tick % 2 == 1:
            sim.advance()
        clock.advance(seconds=35)
        changes, cursor, rejects = pull_all(conn, cursor)
        assert not rejects
        seen += changes
    clock.advance(minutes=3)  # every late write is in by now
    changes, cursor, _ = pull_all(conn, cursor)
    seen += changes

    log = sim.change_log()
    late = [c for c in log if c["visible_at"] - c["changed_at"] > timedelta(seconds=35)]
    assert late, "the scenario must include changes written after the next pull"
    ids = [c.change_id for c in seen]
    assert len(ids) == len(set(ids)), "a change was returned twice"
    assert sorted((c.job_id, c.status, c.changed_at) for c in seen) == sorted(truth(sim))
    assert all(c.changed_at.tzinfo is not None and c.changed_at.utcoffset() == timedelta(0) for c in seen)
    assert {c.reference for c in seen} == {c["external_number"] for c in log}
    # And nothing after the end.
    clock.advance(minutes=10)
    assert pull_all(conn, cursor)[0] == []


def test_resuming_from_the_same_cursor_repeats_the_page_and_the_next_cursor_does_not(sim, conn, clock):
    conn.create_job(draft())
    clock.advance(minutes=3)
    page = conn.fetch_changes(None, 50)
    while page.has_more:
        cursor = page.next_cursor
        page = conn.fetch_changes(cursor, 50)
    again = conn.fetch_changes(cursor, 50)  # the engine crashed before storing page.next_cursor
    assert [c.change_id for c in again.changes] == [c.change_id for c in page.changes]
    assert len(page.changes) == 1
    clock.advance(minutes=1)
    assert conn.fetch_changes(page.next_cursor, 50).changes == []


def test_unreadable_cursor_is_fatal(conn):
    with pytest.raises(FatalError):
        conn.fetch_changes('{"watermark": 5}', 50)


def test_a_change_with_an_unknown_status_is_rejected_once_and_the_rest_goes_on(sim, conn, clock):
    job_id = conn.create_job(draft()).job_id
    sim.inject_raw_change(job_id, "95", "невідомий код")
    sim.set_job_status(job_id, "20")
    clock.advance(minutes=3)
    changes, cursor, rejects = pull_all(conn, None)
    assert [c.status for c in changes] == ["10", "20"]
    [reject] = rejects
    assert "StatusCode" in reject.error and reject.payload["StatusCode"] == "95"
    clock.advance(minutes=1)
    again, _, rejects_again = pull_all(conn, cursor)
    assert again == [] and rejects_again == []


def test_changes_of_one_second_are_ordered_by_life_cycle(sim, conn, clock):
    job_id = conn.create_job(draft()).job_id
    sim.set_job_status(job_id, "20")  # same clock second as the registration
    clock.advance(minutes=3)
    changes, _, _ = pull_all(conn, None)
    assert [c.status for c in changes] == ["10", "20"]
    assert changes[0].changed_at == changes[1].changed_at and changes[0].position < changes[1].position


def _run_across(sim, conn, clock, start: datetime, pull_every: int, *, tick=timedelta(seconds=50), ticks=170):
    """Complaints registered and moved on every tick; a pull every ``pull_every`` ticks."""
    clock.set(start)
    cursor, seen = None, []
    for n in range(ticks):
        conn.create_job(draft(reference=f"1520-2026-{n:06d}", reported_at=clock()))
        sim.advance()
        clock.advance(tick)
        if n % pull_every == 0:
            changes, cursor, _ = pull_all(conn, cursor)
            seen += changes
    clock.advance(minutes=3)
    changes, cursor, _ = pull_all(conn, cursor)
    return seen + changes


@pytest.mark.parametrize("pull_every", [1, 7, 20], ids=["pull-50s", "pull-6min", "pull-17min"])
@pytest.mark.parametrize("switch", [SPRING_SWITCH, AUTUMN_SWITCH], ids=["spring", "autumn"])
def test_pulls_across_the_dst_switch_lose_nothing_and_repeat_nothing(sim, conn, clock, caplog, switch, pull_every):
    seen = _run_across(sim, conn, clock, switch - timedelta(hours=1, minutes=10), pull_every)
    log = truth(sim)
    # The scenario covers both sides of the switch (and, in autumn, both 03:00–03:59 hours).
    assert any(at < switch - timedelta(minutes=30) for _, _, at in log)
    assert any(at > switch + timedelta(minutes=30) for _, _, at in log)
    ids = [c.change_id for c in seen]
    assert len(ids) == len(set(ids)), "a change was returned twice"
    assert sorted((c.job_id, c.status, c.changed_at) for c in seen) == sorted(log)
    assert "ambiguous" not in caplog.text
    # Applying by (changed_at, position) ends every complaint in its real last status.
    last: dict[str, tuple] = {}
    for change in sorted(seen, key=lambda c: (c.changed_at, c.position)):
        last[change.job_id] = change.status
    expected = {}
    for complaint_id, status, _ in log:
        expected[complaint_id] = status
    assert last == expected


@pytest.mark.parametrize("gap", [timedelta(minutes=10), timedelta(hours=1)], ids=["every-10min", "one-hour-gap"])
def test_autumn_repeated_hour_changes_get_their_own_instants(sim, conn, clock, caplog, gap):
    """03:30 summer time and 03:30 winter time read the same on the wire; each gets its own instant."""
    first_at, second_at = AUTUMN_SWITCH - timedelta(minutes=30), AUTUMN_SWITCH + timedelta(minutes=30)
    clock.set(first_at)
    first = conn.create_job(draft(reference="1520-2026-000001", reported_at=clock())).job_id
    clock.advance(minutes=3)
    seen, cursor, _ = pull_all(conn, None)
    while clock() + gap < second_at:
        clock.advance(gap)
        changes, cursor, _ = pull_all(conn, cursor)
        seen += changes
    clock.set(second_at)
    second = conn.create_job(draft(reference="1520-2026-000002", reported_at=clock())).job_id
    clock.advance(minutes=3)
    changes, _, _ = pull_all(conn, cursor)
    seen += changes
    assert {c.job_id: c.changed_at for c in seen} == {first: first_at, second: second_at}
    assert len(seen) == 2
    assert [e["changed_at"] for e in sim.change_log()] == [first_at, second_at]
    # What went over the wire cannot tell them apart.
    assert sim.job_payload(first)["RegisteredAt"] == sim.job_payload(second)["RegisteredAt"] == "2026-10-25T03:30:00"
    # Pulls under an hour apart leave nothing to guess; after a gap the choice is logged.
    assert ("ambiguous" in caplog.text) == (gap >= timedelta(hours=1))


def test_a_pull_after_a_long_gap_across_autumn_still_returns_each_change_once(sim, conn, clock, caplog):
    seen = _run_across(sim, conn, clock, AUTUMN_SWITCH - timedelta(minutes=40), pull_every=1000, ticks=120)
    ids = [c.change_id for c in seen]
    assert len(ids) == len(set(ids))
    assert sorted((c.job_id, c.status) for c in seen) == sorted((j, s) for j, s, _ in truth(sim))
    # Only here, where one window holds both 03:xx hours, is the instant unknowable; it is said so.
    assert "ambiguous" in caplog.text


# planned works ----------------------------------------------------------------------------------------------------
def test_planned_outages_are_read_with_their_free_text_addresses(sim, conn, clock, caplog):
    outage_id = sim.add_planned_work()
    odd = sim.add_planned_work(
        kind="emergency",
        service="heating",
        ends_at=None,
        address_lines=["вул. Соборності, 12–28 (парні)", "Див. графік на сайті теплоцентралі"],
    )
    page = conn.fetch_planned_works(clock(), clock() + timedelta(days=30))
    assert page.rejects == []
    works = {w.notice_id: w for w in page.works}
    work = works[outage_id]
    tomorrow = (clock().astimezone(KYIV) + timedelta(days=1)).date()
    assert work.starts_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=KYIV)
    assert work.ends_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 18, tzinfo=KYIV)
    assert (work.kind, work.service, work.revision, work.cancelled) == ("planned", "hot_water", 1, False)
    assert work.unparsed_lines == ()
    assert work.addresses[0].covers("вулиця Соборності", "14") and not work.addresses[0].covers("вул. Соборності", "15")
    assert any(a.covers("просп. Металургів", "9а") for a in work.addresses)
    assert any(a.covers("м-н Сонячний", "15") for a in work.addresses)
    emergency = works[odd]
    assert emergency.ends_at is None and emergency.kind == "emergency"
    assert emergency.unparsed_lines == ("Див. графік на сайті теплоцентралі",)
    assert len(emergency.addresses) == 1
    assert "kept verbatim" in caplog.text


def test_revisions_and_cancellations_come_through(sim, conn, clock):
    outage_id = sim.add_planned_work()
    first = conn.fetch_planned_works(clock(), clock() + timedelta(days=30)).works[0]
    sim.revise_planned_work(outage_id)
    revised = conn.fetch_planned_works(clock(), clock() + timedelta(days=30)).works[0]
    assert revised.revision == 2 and revised.ends_at == first.ends_at + timedelta(hours=2)
    sim.cancel_planned_work(outage_id)
    cancelled = conn.fetch_planned_works(clock(), clock() + timedelta(days=30)).works[0]
    assert cancelled.revision == 3 and cancelled.cancelled


def test_a_range_longer_than_the_service_allows_is_asked_in_slices(sim, conn, clock):
    """The engine asks 7 days back to 30 ahead; the service refuses windows over 31 days."""
    outage_id = sim.add_planned_work(ends_at=None)
    sim.request_log.clear()
    page = conn.fetch_planned_works(clock() - timedelta(days=7), clock() + timedelta(days=30))
    assert [w.notice_id for w in page.works] == [outage_id] and page.rejects == []
    assert len(sim.request_log) == 2
    reply = raw_post(
        sim,
        "<tc:GetPlannedOutagesRequest><tc:From>2026-01-01T00:00:00</tc:From>"
        "<tc:To>2026-02-15T00:00:00</tc:To></tc:GetPlannedOutagesRequest>",
    )
    assert fault_code(reply) == ("soap:Client", "VALIDATION")


def test_an_unreadable_outage_is_rejected_and_the_rest_goes_on(sim, conn, clock):
    good = sim.add_planned_work()
    bad = sim.add_planned_work()
    sim._outages[bad].service = "steam"  # the utility's system sends a value the contract does not have
    page = conn.fetch_planned_works(clock(), clock() + timedelta(days=30))
    assert [w.notice_id for w in page.works] == [good]
    [reject] = page.rejects
    assert reject.key == bad and reject.error.startswith("Service")


def test_outage_across_the_spring_switch_is_converted_with_the_right_offsets(sim, conn, clock):
    clock.set(datetime(2026, 3, 20, 8, 0, tzinfo=UTC))
    outage_id = sim.add_planned_work(
        starts_at=datetime(2026, 3, 28, 22, 0, tzinfo=UTC),  # 00:00 EET
        ends_at=datetime(2026, 3, 29, 6, 0, tzinfo=UTC),
    )  # 09:00 EEST
    [work] = conn.fetch_planned_works(clock(), clock() + timedelta(days=30)).works
    assert work.notice_id == outage_id
    assert (work.starts_at, work.ends_at) == (
        datetime(2026, 3, 28, 22, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 6, 0, tzinfo=UTC),
    )


# the simulator's life cycle ----------------------------------------------------------------------------------------
def test_advance_walks_the_life_cycle_with_seeded_side_exits(sim, conn):
    for n in range(40):
        conn.create_job(draft(reference=f"1520-2026-{n:06d}"))
    sim.advance(steps=5)
    statuses = [j.status for ref in sim.jobs_by_reference() for j in conn.find_jobs(ref)]
    assert set(statuses) <= {"50", "90", "91"}
    assert "50" in statuses and ({"90", "91"} & set(statuses))
    trail = [c["status"] for c in sim.change_log() if c["complaint_id"] == "240001"]
    assert trail in (["10", "20", "30", "40", "50"], ["10", "91"], ["10", "20", "90"])
    first_run = [(c["complaint_id"], c["status"], c["visible_at"]) for c in sim.change_log()]
    sim.reset()
    for n in range(40):
        conn.create_job(draft(reference=f"1520-2026-{n:06d}"))
    sim.advance(steps=5)
    assert [(c["complaint_id"], c["status"], c["visible_at"]) for c in sim.change_log()] == first_run


# pure helpers --------------------------------------------------------------------------------------------------------
def test_kyiv_wall_time_conversions():
    assert to_wall(datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) == datetime(2026, 3, 29, 2, 59)
    assert to_wall(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == datetime(2026, 3, 29, 4, 0)
    assert to_wall(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == datetime(2026, 10, 25, 3, 30)
    assert to_wall(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == datetime(2026, 10, 25, 3, 30)
    repeated = datetime(2026, 10, 25, 3, 30)
    assert candidates(repeated) == (
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    )
    after = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    assert resolve(repeated, after, after + timedelta(minutes=30)) == (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), True)
    assert resolve(repeated, after - timedelta(hours=2), after + timedelta(hours=1))[1] is False
    assert len(candidates(datetime(2026, 3, 29, 3, 30))) == 2  # never on a correct clock
    # A window across the autumn switch reads backwards on the wall; it is asked as the whole hour.
    assert wall_span(datetime(2026, 10, 25, 0, 58, tzinfo=UTC), datetime(2026, 10, 25, 1, 5, tzinfo=UTC)) == (
        datetime(2026, 10, 25, 3, 0),
        datetime(2026, 10, 25, 3, 59, 59, 999999),
    )
    # Seen keys of the first 03:xx hour stay until the second one is past.
    assert wall_floor(datetime(2026, 10, 25, 0, 10, tzinfo=UTC)) == datetime(2026, 10, 25, 3, 0)
    assert wall_floor(datetime(2026, 10, 25, 1, 10, tzinfo=UTC)) == datetime(2026, 10, 25, 3, 10)


def test_redaction_and_phone_normalisation():
    text = (
        "Тел. +380 67 123 45 67, (056) 401-23-45, 0501112233, 401-23-45; заявка 1520-2026-000123 о 2026-01-15T10:00:00"
    )
    masked = redact_text(text, ["s3cret"])
    for number in ("123 45 67", "401-23-45", "0501112233"):
        assert number not in masked
    assert "1520-2026-000123" in masked and "2026-01-15T10:00:00" in masked
    assert redact_text("pw=s3cret", ["s3cret"]) == "pw=***"
    assert normalize_phone("067 123 45 67") == normalize_phone("+38 (067) 123-45-67") == PHONE
    assert normalize_phone("12345") is None


# mapping and manifest ------------------------------------------------------------------------------------------------
def test_mapping_covers_every_item_the_utility_serves():
    current = default_classifier().current
    served = [i.key for i in current.items if i.executor == "teplotsentral"]
    assert len(served) == 10
    mapping = load_mapping(
        PROJECT_ROOT / "mappings" / "teplotsentral.yaml",
        utility_statuses=TeplotsentralConnector.statuses,
        served_items=served,
    )
    assert mapping.classifier_version == "2021-329"
    assert {rule.job_type for rule in mapping.job_types.values()} <= set(COMPLAINT_TYPES)
    assert mapping.send_fields == {"contact_phone", "flat"}
    assert set(mapping.statuses) == set(STATUS_CODES) == set(TeplotsentralConnector.statuses)
    assert mapping.status_for("50").value == "done" and mapping.status_for("91").value == "not_competence"
    priorities = {current.by_key(key).urgency: rule.priority for key, rule in mapping.job_types.items()}
    assert priorities == {"urgent_emergency": "emergency", "emergency": "urgent", "ordinary": "normal"}


def test_manifest_loads_and_points_at_real_classes():
    manifest = load_manifest(PROJECT_ROOT / "connectors" / "teplotsentral" / "manifest.yaml")
    assert (manifest.name, manifest.protocol, manifest.conn_id) == ("teplotsentral", "soap", "teplotsentral_soap")
    assert manifest.connector_class is TeplotsentralConnector
    assert manifest.simulator_class() is TeplotsentralSimulator
    assert Path(manifest.mapping_file).exists()
