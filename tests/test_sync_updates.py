"""Contact-centre updates (rework, withdrawal, details) reach the utility's job once it exists."""

from __future__ import annotations

from gateway.statuses import RequestStatus
from gateway.sync.bookkeeping import add_history, set_request_status
from gateway.sync.engine import run_step
from tests.fakes import FakeUtility
from tests.sync_helpers import fake_context, register, request_by_number


def test_rework_withdrawal_and_details_are_pushed_once_each(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    first, second = register(sessions, house="1"), register(sessions, house="2")
    run_step(ctx, "push_jobs")
    with sessions() as session, session.begin():
        r1, r2 = request_by_number(session, first), request_by_number(session, second)
        set_request_status(session, r1, RequestStatus.REWORK, actor="operator:olena",
                           note="мешканець повідомив: вода знову не йде")
        add_history(session, r2, actor="resident", field="details", old=None, new="під'їзд 3, код домофона 45")
        set_request_status(session, r2, RequestStatus.WITHDRAWN, actor="operator:olena", note="вирішено самостійно")
    counts = run_step(ctx, "push_updates")
    assert counts["queued"] == 3 and counts["sent"] == 3
    kinds = sorted((u.kind, u.text) for _, u in utility.updates)
    assert kinds == [("details", "під'їзд 3, код домофона 45"), ("rework", "мешканець повідомив: вода знову не йде"),
                     ("withdrawn", "вирішено самостійно")]
    assert run_step(ctx, "push_updates").get("sent", 0) == 0  # nothing twice


def test_update_for_a_request_not_yet_at_the_utility_waits_for_its_job(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    number = register(sessions)
    run_step(ctx, "pull_status_changes")  # nothing sent yet
    from collections import Counter

    from gateway.sync.push import enqueue_new_requests

    enqueue_new_requests(ctx, Counter())
    with sessions() as session, session.begin():
        add_history(session, request_by_number(session, number), actor="resident", field="details", old=None,
                    new="дзвонити після 18:00")
    assert run_step(ctx, "push_updates").get("sent", 0) == 0
    run_step(ctx, "push_jobs")
    assert run_step(ctx, "push_updates")["sent"] == 1
    assert utility.updates[0][1].text == "дзвонити після 18:00"


def test_the_gateways_own_history_rows_are_not_echoed_back(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    register(sessions)
    run_step(ctx, "push_jobs")
    assert run_step(ctx, "push_updates").get("queued", 0) == 0
