"""ТОВ «СІТІСЕРВІС-КР»'s connector against its simulator over the wire: the 409 "already exists"
answer adopted, HTTP Basic, the modified_after list with ties and page borders, comments, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.cityservice.connector import CityserviceConnector
from gateway.connections import ConnectionConfig
from gateway.connector import JobDraft, JobUpdate, Timeouts
from gateway.errors import FatalError, PermanentError, RetriableError
from simulators.cityservice import CityserviceSimulator

TIMEOUTS = Timeouts(connect=2, read=5)
HELD = datetime(2026, 11, 30, 10, 15, 7, tzinfo=ZoneInfo("Europe/Kyiv"))


def draft(reference: str, **changes) -> JobDraft:
    fields = dict(reference=reference, idempotency_key=f"k-{reference}", classifier_code="3.23", job_type="lift",
                  priority="urgent", street="просп. Гагаріна", house="41", flat="12",
                  description="Не працює ліфт, мешканка просить дзвонити 067 123 45 67",
                  reported_at=datetime.now(UTC) - timedelta(minutes=3))
    return JobDraft(**{**fields, **changes})


@pytest.fixture
def clock():
    return [HELD]  # held still unless a test moves it


@pytest.fixture
def sim(clock):
    with CityserviceSimulator(seed=5, clock=lambda: clock[0]) as simulator:
        yield simulator
        assert simulator.contract_violations == []


@pytest.fixture
def conn(sim):
    connector = CityserviceConnector(sim.connection_config(), timeouts=TIMEOUTS)
    yield connector
    connector.close()


def drain(conn, cursor=None):
    changes = []
    for _ in range(100):
        page = conn.fetch_changes(cursor, 50)
        changes += page.changes
        cursor = page.next_cursor
        if not page.has_more:
            return changes, cursor
    raise AssertionError("the feed never ended")


def test_a_repeated_create_adopts_the_existing_request(sim, conn):
    first = conn.create_job(draft("1520-2026-000001"))
    again = conn.create_job(draft("1520-2026-000001", description="повтор після втраченої відповіді"))
    assert first.job_id == again.job_id == "CS-00001" and first.status == "прийнято"
    assert sim.jobs_by_reference() == {"1520-2026-000001": ["CS-00001"]}
    payload = sim.job_payload("CS-00001")
    assert payload["address"] == "просп. Гагаріна, буд. 41, кв. 12"
    assert "123 45 67" not in payload["description"]  # the API takes no phone: free text goes without one


def test_a_create_the_utility_refuses_is_permanent_and_names_the_field(sim, conn):
    with pytest.raises(PermanentError, match="type"):
        conn.create_job(draft("1520-2026-000002", job_type="chimney"))
    assert sim.jobs_by_reference() == {}
    sim.contract.violations.clear()  # the refused request was recorded as one, as it should be


def test_wrong_credentials_stop_the_step_and_missing_ones_are_refused_up_front(sim):
    bad = CityserviceConnector(ConnectionConfig("cityservice_api", sim.url, login=sim.login, password="nope"),
                               timeouts=TIMEOUTS)
    with pytest.raises(FatalError, match="login and password"):
        bad.find_jobs("1520-2026-000001")
    bad.close()
    with pytest.raises(FatalError, match="HTTP Basic"):
        CityserviceConnector(ConnectionConfig("cityservice_api", sim.url, password="x"), timeouts=TIMEOUTS)


def test_ties_across_page_borders_come_once_each_and_a_second_state_in_the_same_second_counts(sim, conn):
    sim.page_size = 3
    for n in range(1, 8):
        conn.create_job(draft(f"1520-2026-{n:06d}"))
    created, cursor = drain(conn)
    assert sorted(c.job_id for c in created) == [f"CS-{n:05d}" for n in range(1, 8)]
    assert len({c.changed_at for c in created}) == 1  # one second for all: every page border is a tie
    sim.advance()  # still the same second
    moved, cursor = drain(conn, cursor)
    assert sorted(c.job_id for c in moved) == sorted(c.job_id for c in created)
    assert all(m.position > 1 for m in moved) and {m.changed_at for m in moved} == {created[0].changed_at}
    assert drain(conn, cursor)[0] == []  # nothing comes twice


def test_an_unreadable_item_is_rejected_once_and_the_rest_go_on(sim, conn, clock):
    for n in (1, 2, 3):
        conn.create_job(draft(f"1520-2026-{n:06d}"))
    _, cursor = drain(conn)
    clock[0] += timedelta(seconds=1)  # (a comment alone within the same second and status is not a change)
    sim.inject_noisy_changes(["CS-00001", "CS-00002"], "коментар")
    page = conn.fetch_changes(cursor, 50)
    assert [c.job_id for c in page.changes] == ["CS-00001"] and page.changes[0].comment == "коментар"
    assert [r.key for r in page.rejects] == ["CS-00002"] and "status" in page.rejects[0].error
    assert conn.fetch_changes(page.next_cursor, 50).rejects == []
    sim.contract.violations.clear()  # the injected status breaks the document on purpose


def test_comments_are_sent_and_a_repeat_is_recorded_again(sim, conn):
    job = conn.create_job(draft("1520-2026-000001")).job_id
    update = JobUpdate("withdrawn", "мешканець відкликав, тел. 050 111 22 33", datetime.now(UTC))
    conn.push_update(job, update)
    conn.push_update(job, update)  # the API has no idempotency for comments: documented, not hidden
    texts = [c["text"] for c in sim.comments(job)]
    assert len(texts) == 2 and texts[0].startswith("Заявку відкликано заявником") and "111 22 33" not in texts[0]
    with pytest.raises(PermanentError, match="no such request"):
        conn.push_update("CS-99999", update)


def test_throttling_is_retriable_with_its_retry_after(sim, conn):
    sim.faults.inject("x-throttle", method="GET", path="/api/requests", retry_after="7")
    with pytest.raises(RetriableError) as caught:
        conn.fetch_changes(None, 50)
    assert caught.value.retry_after == 7


def test_find_jobs_reads_the_list_and_planned_works_are_not_a_stream(sim, conn):
    conn.create_job(draft("1520-2026-000001"))
    conn.create_job(draft("1520-2026-000002"))
    (found,) = conn.find_jobs("1520-2026-000002")
    assert (found.job_id, found.status) == ("CS-00002", "прийнято")
    assert conn.find_jobs("1520-2026-000009") == []
    assert not CityserviceConnector.has_planned_works()
    with pytest.raises(NotImplementedError):
        conn.fetch_planned_works(datetime.now(UTC), datetime.now(UTC) + timedelta(days=1))


def test_the_reconciliation_knows_a_job_older_than_the_lookup_window_and_misses_a_deleted_one(sim, conn, clock):
    """find_jobs only reads back a window of the list; whether a sent job still exists is asked by its id, so
    an old quiet job is never taken for a vanished one."""
    clock[0] = datetime.now(UTC) - timedelta(days=30)
    old = conn.create_job(draft("1520-2026-000031"))
    clock[0] = HELD
    assert conn.find_jobs("1520-2026-000031") == []  # outside the window the list reaches back
    assert conn.job_known(old.job_id, "1520-2026-000031") is True
    assert conn.job_known("CS-99999", "1520-2026-000099") is False
