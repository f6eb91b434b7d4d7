"""The Екоспецтранс connector against its simulator, over real HTTP on loopback.

Most tests raise the simulator's rate limit so they run fast; the rate-limit tests use the real 5/s.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from connectors.ecospectrans.connector import EcospectransConnector
from connectors.ecospectrans.wire import CONTAINER_CATEGORIES, STATUSES
from gateway.classifier import default_classifier
from gateway.connector import CreateResult, JobDraft, JobUpdate, Timeouts
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError
from gateway.mapping import load_mapping
from gateway.registry import CONNECTORS_DIR, load_manifest
from gateway.statuses import RequestStatus
from gateway.toolkit.http import parse_retry_after
from gateway.toolkit.redact import redact
from simulators.contract import enum
from simulators.ecospectrans import EcospectransSimulator

KYIV = ZoneInfo("Europe/Kyiv")
FAST = 10_000  # a rate limit high enough not to matter


def start(**kwargs) -> EcospectransSimulator:
    kwargs.setdefault("rate_limit", FAST)
    kwargs.setdefault("creation_delay", None)  # tickets appear when the test says so
    sim = EcospectransSimulator(seed=kwargs.pop("seed", 11), **kwargs)
    sim.start()
    return sim


def stop(sim: EcospectransSimulator) -> None:
    """Stop without waiting: BaseSimulator.stop() sits out serve_forever's 0.5 s poll interval."""
    threading.Thread(target=sim.stop, name="stop-ecospectrans-sim", daemon=True).start()


def connect(sim: EcospectransSimulator, read: float = 2.0, **extra) -> EcospectransConnector:
    config = sim.connection_config()
    config = replace(config, extra={**config.extra, **extra})
    return EcospectransConnector(config, timeouts=Timeouts(connect=1.0, read=read))


@pytest.fixture
def sim():
    simulator = start()
    yield simulator
    stop(simulator)


@pytest.fixture
def conn(sim):
    connector = connect(sim)
    yield connector
    connector.close()


def draft(
    reference: str = "1520-0001",
    job_type: str = "BULKY_WASTE",
    street: str = "вул. Соборності",
    house: str = "14",
    **fields,
) -> JobDraft:
    return JobDraft(
        reference=reference,
        idempotency_key=f"{reference}:dispatch-1",
        classifier_code="4.4",
        job_type=job_type,
        priority="normal",
        street=street,
        house=house,
        description=fields.pop("description", "Біля під'їзду складено старі меблі"),
        reported_at=datetime(2024, 5, 1, 9, 30, tzinfo=KYIV),
        **fields,
    )


def requests_to(sim: EcospectransSimulator, method: str, path: str) -> int:
    return sum(1 for _, m, p in list(sim.request_log) if m == method and p == path)


# tokens ------------------------------------------------------------------------------------------


def test_token_fetched_once_and_reused(sim, conn):
    for n in range(6):
        conn.find_jobs(f"1520-{n}")
    conn.create_job(draft())
    assert sim.token_requests() == 1
    assert requests_to(sim, "GET", "/v2/tickets") == 6


def test_expired_token_is_renewed_on_401_and_the_call_is_not_lost(sim, conn):
    assert conn.create_job(draft("1520-A")).pending_token
    sim.expire_tokens()
    result = conn.create_job(draft("1520-B"))  # 401, renewal, the same POST again
    assert result.pending_token
    sim.release_pending()
    assert sorted(sim.jobs_by_reference()) == ["1520-A", "1520-B"]
    assert sim.counters["unauthorized"] == 1
    assert sim.token_requests() == 2
    assert requests_to(sim, "POST", "/v2/tickets") == 3


def test_token_expiring_mid_batch_loses_nothing():
    sim = start(token_lifetime=0.3)
    conn = connect(sim)
    try:
        for n in range(8):
            conn.create_job(draft(f"1520-{n}"))
            time.sleep(0.08)
        sim.release_pending()
        assert sorted(sim.jobs_by_reference()) == [f"1520-{n}" for n in range(8)]
        assert sim.token_requests() >= 2
    finally:
        conn.close()
        stop(sim)


def test_token_is_renewed_shortly_before_expiry_without_a_401():
    sim = start(token_lifetime=1.0)
    conn = connect(sim)
    try:
        conn.find_jobs("1520-1")
        time.sleep(0.95)  # past the renewal point (90 % of the lifetime), the old token still valid
        conn.find_jobs("1520-2")
        # Renewed ahead: a second token and no refused call. Without early renewal this is one token
        # (the old one still works) or, if the sleep overran the expiry, a 401.
        assert sim.token_requests() == 2
        assert sim.counters["unauthorized"] == 0
    finally:
        conn.close()
        stop(sim)


def test_token_endpoint_takes_form_credentials_and_counts_toward_the_limit():
    sim = start(rate_limit=2)
    try:
        form = {"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.client_secret}
        first = requests.post(sim.url + "/oauth/token", data=form, timeout=2)
        assert first.status_code == 200 and first.json()["token_type"] == "Bearer"
        wrong_grant = requests.post(sim.url + "/oauth/token", data={**form, "grant_type": "password"}, timeout=2)
        assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"
        third = requests.post(sim.url + "/oauth/token", data=form, timeout=2)
        assert third.status_code == 429 and third.headers["Retry-After"]
    finally:
        stop(sim)


def test_secret_with_reserved_characters_works():
    sim = start(client_secret="p@ss:wörd%2B +/")
    conn = connect(sim)
    try:
        assert conn.find_jobs("1520-1") == []
    finally:
        conn.close()
        stop(sim)


def test_refused_credentials_are_fatal(sim):
    config = replace(sim.connection_config(), password="not-the-secret")
    conn = EcospectransConnector(config, timeouts=Timeouts(1, 2))
    with pytest.raises(FatalError) as caught:
        conn.find_jobs("1520-1")
    assert "invalid_client" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    missing = EcospectransConnector(replace(sim.connection_config(), login=None), timeouts=Timeouts(1, 2))
    with pytest.raises(FatalError):
        missing.find_jobs("1520-1")


def test_401_after_one_renewal_is_fatal(sim, conn):
    sim.faults.inject("x-unauthorized", method="GET", path="/v2/tickets", times=2)
    with pytest.raises(FatalError):
        conn.find_jobs("1520-1")
    assert sim.token_requests() == 2  # renewed exactly once
    conn.find_jobs("1520-1")  # and it recovers once the utility accepts tokens again


# rate limit ---------------------------------------------------------------------------------------


def test_retry_after_is_read_in_both_forms(sim, conn):
    sim.faults.inject("x-rate-limit", method="GET", path="/v2/tickets", form="seconds", seconds=7)
    with pytest.raises(RetriableError) as caught:
        conn.find_jobs("1520-1")
    assert caught.value.retry_after == 7

    sim.faults.inject("x-rate-limit", method="GET", path="/v2/tickets", form="date", seconds=30)
    with pytest.raises(RetriableError) as caught:
        conn.find_jobs("1520-1")
    assert caught.value.retry_after is not None and 27 <= caught.value.retry_after <= 31
    assert sim.counters["429_seconds"] == 1 and sim.counters["429_date"] == 1


def test_parse_retry_after():
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-3", now) is None


def test_burst_stays_under_the_limit_without_429s():
    sim = start(rate_limit=5, creation_delay=0)
    conn = connect(sim)  # extra.rate_limit = 5, as the simulator hands it out
    try:
        results = [conn.create_job(draft(f"1520-{n:03d}")) for n in range(30)]
        assert all(r.pending_token for r in results)
        assert sim.rate_limited_count() == 0
        assert sim.max_requests_per_window(1.0) <= 5
        assert sim.token_requests() == 1  # the token request counted too, and was 1 of the 31
        assert sim.ticket_count() == 30
    finally:
        conn.close()
        stop(sim)


def test_without_the_client_limiter_the_simulator_answers_429():
    """Proves the burst test above can fail: the same burst with the limiter raised gets 429s."""
    sim = start(rate_limit=5, creation_delay=0)
    conn = connect(sim, rate_limit=FAST)
    try:
        refused = []
        for n in range(30):
            try:
                conn.find_jobs(f"1520-{n}")
            except RetriableError as exc:
                refused.append(exc)
        assert sim.rate_limited_count() == len(refused) > 0
        assert all(exc.retry_after is not None and exc.retry_after >= 0 for exc in refused)
        assert sim.counters["429_seconds"] > 0 and sim.counters["429_date"] > 0
        assert sim.max_requests_per_window(1.0) > 5
    finally:
        conn.close()
        stop(sim)


# creating tickets --------------------------------------------------------------------------------


def test_async_create_gives_a_token_then_the_ticket(sim, conn):
    result = conn.create_job(draft("1520-P"))
    assert result.job_id is None and result.pending_token
    assert conn.resolve_pending(result.pending_token) is None
    assert sim.pending_count() == 1
    sim.release_pending()
    job = conn.resolve_pending(result.pending_token)
    assert job is not None
    assert job.job_id == sim.jobs_by_reference()["1520-P"][0]
    assert job.reference == "1520-P" and job.status == "open" and job.created_at.tzinfo is not None
    assert conn.resolve_pending("tkn_never_issued") is None


def test_ticket_appears_after_the_creation_delay():
    sim = start(creation_delay=0.2)
    conn = connect(sim)
    try:
        token = conn.create_job(draft("1520-D")).pending_token
        assert conn.resolve_pending(token) is None
        deadline = time.monotonic() + 10
        job = None
        while job is None and time.monotonic() < deadline:
            time.sleep(0.05)
            job = conn.resolve_pending(token)
        assert job is not None and job.reference == "1520-D"
    finally:
        conn.close()
        stop(sim)


def test_reused_reference_returns_the_existing_ticket(sim, conn):
    first = conn.create_job(draft("1520-R"))
    again_pending = conn.create_job(draft("1520-R"))  # still being created: the same token
    assert again_pending == CreateResult(pending_token=first.pending_token)
    sim.release_pending()
    existing = sim.jobs_by_reference()["1520-R"]
    again = conn.create_job(draft("1520-R", description="інший опис"))
    assert again.job_id == existing[0]
    assert sim.ticket_count() == 1 and sim.pending_count() == 0
    assert EcospectransConnector.idempotent_create is True


@pytest.mark.parametrize("fault", ["drop_after_commit", "truncated", "malformed", "server_error", "html_error"])
def test_failure_after_sending_a_ticket_is_ambiguous_and_resolves_to_one_ticket(sim, conn, fault):
    sim.faults.inject(fault, method="POST", path="/v2/tickets")
    with pytest.raises(AmbiguousError):
        conn.create_job(draft("1520-X"))
    retried = conn.create_job(draft("1520-X"))
    sim.release_pending()
    found = conn.find_jobs("1520-X")
    assert len(found) == 1 and found[0].reference == "1520-X"
    assert sim.jobs_by_reference() == {"1520-X": [found[0].job_id]}
    if retried.job_id:
        assert retried.job_id == found[0].job_id
    else:
        assert conn.resolve_pending(retried.pending_token).job_id == found[0].job_id


def test_read_timeout_on_create_is_ambiguous_and_on_get_retriable(sim):
    conn = connect(sim, read=0.3)
    try:
        conn.find_jobs("warm-up")  # token first, so the slow answer is the ticket's
        sim.faults.inject("latency", method="POST", path="/v2/tickets", seconds=0.8)
        with pytest.raises(AmbiguousError):
            conn.create_job(draft("1520-T"))
        sim.faults.inject("latency", method="GET", path="/v2/tickets", seconds=0.8)
        with pytest.raises(RetriableError):
            conn.find_jobs("1520-T")
        deadline = time.monotonic() + 10  # the slow POST commits on the server after the client gave up
        while sim.pending_count() + sim.ticket_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        sim.release_pending()
        assert len(conn.find_jobs("1520-T")) == 1
    finally:
        conn.close()


@pytest.mark.parametrize("fault", ["server_error", "malformed", "truncated", "reset", "html_error"])
def test_failed_reads_are_retriable(sim, conn, fault):
    conn.find_jobs("warm-up")
    sim.faults.inject(fault, method="GET", path="/v2/tickets")
    with pytest.raises(RetriableError):
        conn.fetch_changes(None, 10)


def test_connection_refused_is_retriable(sim):
    sim.go_offline()
    conn = connect(sim)
    try:
        with pytest.raises(RetriableError):
            conn.find_jobs("1520-1")
    finally:
        conn.close()
        sim.go_online()


def _street_with_site(sim: EcospectransSimulator) -> tuple[str, str, str]:
    for street in ("вул. Соборності", "просп. Металургів", "просп. Гагаріна", "вул. Кобилянського"):
        sites = sim.sites_at(street, "5")
        if sites:
            return street, "5", sites[0]["id"]
    raise AssertionError("the seeded city has no container site on the usual streets")


def test_container_ticket_names_its_site(sim, conn):
    street, house, site_id = _street_with_site(sim)
    assert "CONTAINER_NOT_EMPTIED" in CONTAINER_CATEGORIES
    conn.create_job(draft("1520-S", job_type="CONTAINER_NOT_EMPTIED", street=street, house=house))
    sim.release_pending()
    payload = sim.job_payload(sim.jobs_by_reference()["1520-S"][0])
    assert payload["site_id"] == site_id and "address" not in payload
    assert requests_to(sim, "GET", "/v2/sites") == 1


def test_container_ticket_without_a_site_sends_the_address(sim, conn):
    conn.create_job(draft("1520-N", job_type="CONTAINER_DAMAGED", street="вул. Соборності", house="999"))
    conn.create_job(draft("1520-B", job_type="BULKY_WASTE"))  # not a container category: no lookup
    sim.release_pending()
    refs = sim.jobs_by_reference()
    assert sim.job_payload(refs["1520-N"][0])["address"] == {"street": "вул. Соборності", "house": "999"}
    assert "site_id" not in sim.job_payload(refs["1520-B"][0])
    assert requests_to(sim, "GET", "/v2/sites") == 1


def test_no_resident_phone_or_priority_is_sent(sim, conn):
    conn.create_job(draft("1520-F", job_type="FIRE_HAZARD_WASTE", contact_phone="+380671234567", flat="12"))
    sim.release_pending()
    payload = sim.job_payload(sim.jobs_by_reference()["1520-F"][0])
    assert set(payload) == {"client_reference", "category", "address", "description", "reported_at"}
    assert datetime.fromisoformat(payload["reported_at"]) == datetime(2024, 5, 1, 9, 30, tzinfo=KYIV)


def test_validation_errors_are_permanent_and_name_the_field(sim, conn):
    with pytest.raises(PermanentError) as caught:
        conn.create_job(draft("1520-V", job_type="NOT_A_CATEGORY"))
    assert "category" in str(caught.value)
    with pytest.raises(PermanentError) as caught:
        conn.create_job(draft("1520-W", description=" "))
    assert "description" in str(caught.value)
    with pytest.raises(PermanentError) as caught:
        conn.create_job(draft("1520-Y", street=""))
    assert "address.street" in str(caught.value)
    assert sim.ticket_count() == 0 and sim.pending_count() == 0


# the status feed ---------------------------------------------------------------------------------


def _read_all(conn, cursor, limit):
    changes, pages = [], 0
    while True:
        page = conn.fetch_changes(cursor, limit)
        changes.extend(page.changes)
        cursor = page.next_cursor
        pages += 1
        assert pages < 100
        if not page.has_more:
            return changes, cursor


def test_cursor_paging_has_no_gaps_or_repeats_and_resumes(sim, conn):
    ids = [sim.add_ticket() for _ in range(250)]
    changes, cursor = _read_all(conn, None, 40)
    assert [c.job_id for c in changes] == ids  # ordered, complete, no repeats
    assert len({c.change_id for c in changes}) == 250
    assert all(c.status == "open" and c.changed_at.tzinfo is not None for c in changes)
    assert conn.fetch_changes(cursor, 40).changes == []  # nothing new

    sim.set_job_status(ids[3], "scheduled")
    sim.set_job_status(ids[200], "cannot_access")
    resumed = connect(sim)  # a new process resuming from the stored cursor
    more, _ = _read_all(resumed, cursor, 40)
    assert [(c.job_id, c.status) for c in more] == [(ids[3], "scheduled"), (ids[200], "cannot_access")]
    assert more[1].comment  # the utility's reason travels with the change
    resumed.close()


def test_tickets_updated_while_a_page_is_read_are_neither_lost_nor_repeated(sim, conn):
    ids = [sim.add_ticket() for _ in range(150)]
    first = conn.fetch_changes(None, 30)  # part of the first 100-ticket page
    assert [c.job_id for c in first.changes] == ids[:30] and first.has_more
    sim.set_job_status(ids[40], "scheduled")  # not read yet: moves to the end of the feed
    sim.set_job_status(ids[10], "scheduled")  # already read: comes again, as a new change
    rest, _ = _read_all(conn, first.next_cursor, 30)
    seen = first.changes + rest
    assert len({c.change_id for c in seen}) == len(seen)
    assert {c.job_id for c in seen} == set(ids)
    assert [c.status for c in seen if c.job_id == ids[10]] == ["open", "scheduled"]
    assert [c.status for c in seen if c.job_id == ids[40]] == ["scheduled"]
    assert len(seen) == 151


def test_malformed_ticket_in_a_page_becomes_a_rejected_item(sim, conn):
    ids = [sim.add_ticket() for _ in range(3)]
    sim.faults.inject("x-bad-item", method="GET", path="/v2/tickets", index=1, field="status", value="lost")
    page = conn.fetch_changes(None, 10)
    assert [c.job_id for c in page.changes] == [ids[0], ids[2]]
    assert len(page.rejects) == 1
    assert page.rejects[0].key == ids[1] and "status" in page.rejects[0].error
    assert page.rejects[0].payload["status"] == "lost"

    sim.faults.inject("x-bad-item", method="GET", path="/v2/tickets", index=0, field="updated_at", value="__delete__")
    page = conn.fetch_changes(None, 2)
    assert [c.job_id for c in page.changes] == [ids[1]]
    assert "updated_at" in page.rejects[0].error and page.rejects[0].key == ids[0]
    rest = conn.fetch_changes(page.next_cursor, 2)
    assert [c.job_id for c in rest.changes] == [ids[2]] and not rest.rejects


def test_advance_moves_tickets_and_every_status_maps(sim, conn):
    for _ in range(30):
        sim.add_ticket()
    sim.advance(4)
    changes, _ = _read_all(conn, None, 100)
    statuses = {c.status for c in changes}
    assert statuses <= set(STATUSES)
    assert "closed" in statuses and statuses & {"rejected", "cannot_access"}


def test_unusable_cursor_is_fatal(conn):
    with pytest.raises(FatalError):
        conn.fetch_changes("not-a-cursor", 10)


# comments ----------------------------------------------------------------------------------------


def test_update_becomes_a_comment(sim, conn):
    ticket_id = sim.add_ticket()
    at = datetime(2024, 5, 2, 7, 15, tzinfo=UTC)
    conn.push_update(ticket_id, JobUpdate("rework", "Контейнер досі переповнений", at))
    comments = sim.comments(ticket_id)
    assert len(comments) == 1
    assert comments[0]["text"] == "Заявку повернуто на доопрацювання (02.05.2024 10:15): Контейнер досі переповнений"
    assert comments[0]["author"] == "Контакт-центр 1520"
    with pytest.raises(PermanentError):
        conn.push_update("ECO-999999", JobUpdate("details", "уточнення", at))


# schedule changes --------------------------------------------------------------------------------


def test_schedule_changes_become_waste_notices(sim, conn):
    now = datetime.now(UTC)
    tomorrow = datetime.now(KYIV).date() + timedelta(days=1)
    notice_id = sim.add_planned_work()
    breakdown_id = sim.add_planned_work(reason_code="breakdown", streets=["вул. Каткова"], date=tomorrow)
    works = {w.notice_id: w for w in conn.fetch_planned_works(now - timedelta(days=1), now + timedelta(days=30)).works}
    work = works[notice_id]
    assert work.service == "waste_collection" and work.kind == "planned" and not work.cancelled
    assert work.starts_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=KYIV)
    assert work.ends_at == work.starts_at + timedelta(days=1)
    assert work.original_date == work.starts_at - timedelta(days=1)
    assert work.addresses and all(a.whole_street for a in work.addresses)
    assert work.district and work.reason and work.announced_at is not None
    assert works[breakdown_id].kind == "emergency"
    assert works[breakdown_id].district == "Тернівський"
    assert works[breakdown_id].addresses[0].covers("Каткова", "17")

    sim.revise_planned_work(notice_id)
    revised = next(w for w in conn.fetch_planned_works(now, now + timedelta(days=30)).works if w.notice_id == notice_id)
    assert revised.revision > work.revision and revised.starts_at == work.starts_at + timedelta(days=1)
    sim.cancel_planned_work(notice_id)
    cancelled = next(
        w for w in conn.fetch_planned_works(now, now + timedelta(days=30)).works if w.notice_id == notice_id
    )
    assert cancelled.cancelled and cancelled.revision > revised.revision


def test_unreadable_schedule_change_is_rejected(sim, conn):
    good = sim.add_planned_work()
    bad = sim.add_planned_work(streets=[])
    now = datetime.now(UTC)
    page = conn.fetch_planned_works(now - timedelta(days=1), now + timedelta(days=7))
    assert [w.notice_id for w in page.works] == [good]
    assert [(r.key, "streets" in r.error) for r in page.rejects] == [(bad, True)]


# secrets -----------------------------------------------------------------------------------------


def test_no_secret_token_or_phone_reaches_the_logs(sim, conn, caplog):
    caplog.set_level(logging.DEBUG)
    messages = []
    conn.create_job(
        draft(
            "1520-L",
            job_type="CONTAINER_NOT_EMPTIED",
            contact_phone="+380671234567",
            description="Телефонуйте 067 123 45 67",
        )
    )
    sim.expire_tokens()
    conn.find_jobs("1520-L")
    for fault, kwargs in [("x-rate-limit", {}), ("drop_after_commit", {}), ("x-unauthorized", {"times": 2})]:
        sim.faults.inject(fault, method="POST", path="/v2/tickets", **kwargs)
        try:
            conn.create_job(draft("1520-M"))
        except (RetriableError, AmbiguousError, FatalError) as exc:
            messages.append(str(exc))
    try:
        conn.create_job(draft("1520-Z", job_type="???"))
    except PermanentError as exc:
        messages.append(str(exc))
    conn.fetch_changes(None, 10)
    wrong = EcospectransConnector(
        replace(sim.connection_config(), password="wrong-secret-xyz"), timeouts=Timeouts(1, 2)
    )
    try:
        wrong.find_jobs("1520-L")
    except FatalError as exc:
        messages.append(str(exc))
    assert len(messages) == 5
    text = caplog.text + "\n".join(messages)
    assert "ecospectrans" in caplog.text  # the connector did log
    tokens = sim.issued_tokens()
    assert len(tokens) >= 3
    for secret in [sim.client_secret, "wrong-secret-xyz", *tokens]:
        assert secret not in text
    assert "671234567" not in text and "123 45 67" not in text


def test_redact_masks_phones_and_secrets():
    assert redact("call +380 67 123-45-67 or 0671234567", ["s3cr3t"]) == "call [phone] or [phone]"
    assert redact("token s3cr3t here", ["s3cr3t"]) == "token *** here"
    assert redact("ticket ECO-000123 at 2024-05-01") == "ticket ECO-000123 at 2024-05-01"


# manifest, mapping and simulator -------------------------------------------------------------------


def test_manifest_and_mapping_cover_every_waste_item():
    manifest = load_manifest(CONNECTORS_DIR / "ecospectrans" / "manifest.yaml")
    assert manifest.connector_class is EcospectransConnector
    assert manifest.simulator_class() is EcospectransSimulator
    assert manifest.conn_id == "ecospectrans_api" and manifest.protocol == "rest-oauth2"
    current = default_classifier().current
    served = [item for item in current.items if item.executor == "ecospectrans"]
    assert {item.code for item in served} == {"4.1", "4.2", "4.3", "4.4", "4.5", "32.8"}
    mapping = load_mapping(
        manifest.mapping_file, utility_statuses=EcospectransConnector.statuses, served_items=[i.key for i in served]
    )
    assert mapping.send_fields == frozenset()
    assert {rule.job_type for rule in mapping.job_types.values()} <= set(enum("ecospectrans", "Category"))
    expected_priority = {"urgent_emergency": "emergency", "emergency": "urgent", "ordinary": "normal"}
    for item in served:
        assert mapping.rule_for_item(item.key).priority == expected_priority[item.urgency]
    assert mapping.status_for("rejected") is RequestStatus.NOT_COMPETENCE
    assert mapping.status_for("cannot_access") not in {RequestStatus.IN_PROGRESS, RequestStatus.DONE}
    assert Path(manifest.mapping_file).name == "ecospectrans.yaml"


def test_simulator_is_deterministic_under_a_seed():
    def run(seed: int) -> tuple[list[str], list[dict]]:
        sim = EcospectransSimulator(seed=seed)
        ids = [sim.add_ticket() for _ in range(25)]
        sim.advance(2)
        return [sim.ticket(i)["status"] for i in ids], sim.sites_at("вул. Соборності")

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_default_planned_work_starts_tomorrow_and_revision_changes_it():
    sim = EcospectransSimulator(seed=3)
    notice_id = sim.add_planned_work()
    before = sim.schedule_change(notice_id)
    assert date.fromisoformat(before["date"]) == datetime.now(KYIV).date() + timedelta(days=1)
    assert before["streets"] and before["district"] and not before["cancelled"]
    sim.revise_planned_work(notice_id)
    after = sim.schedule_change(notice_id)
    assert after["date"] != before["date"] and after["updated_at"] > before["updated_at"]
