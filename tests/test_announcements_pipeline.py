"""The announcement pipeline and the "known problem, no new job" rules, with the connector double."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from gateway.addresses import HouseRange, StreetHouses
from gateway.connector import PlannedWork
from gateway.db import utcnow
from gateway.models import Announcement, AnnouncementRevision
from gateway.statuses import RequestStatus
from gateway.sync import states
from gateway.sync.engine import run_step
from tests.fakes import FakeUtility
from tests.sync_helpers import dispatch_of, fake_context, register, request_by_number


def _notice(**changes) -> PlannedWork:
    now = utcnow()
    work = PlannedWork(
        notice_id="PW-1", revision=1, kind="emergency", service="cold_water",
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=6),
        addresses=(StreetHouses("вул. Соборності", ranges=(HouseRange(12, 28, "even"),)),),
        reason="заміна засувки на водогоні Д-300", tanker_location="біля буд. 20", contact_phone="0564901520",
        announced_at=now - timedelta(hours=1),
    )
    return replace(work, **changes)


def _announcements(sessions) -> list[Announcement]:
    with sessions() as session:
        return session.scalars(select(Announcement)).all()


def test_the_same_notices_fetched_twice_publish_once(sessions):
    utility = FakeUtility(works=[_notice()])
    ctx = fake_context(sessions, utility)
    assert run_step(ctx, "pull_planned_works")["created"] == 1
    assert run_step(ctx, "pull_planned_works")["unchanged"] == 1
    (announcement,) = _announcements(sessions)
    assert announcement.state == "active" and "Соборності" in announcement.body_uk
    with sessions() as session:
        assert session.scalar(select(AnnouncementRevision.revision)) == 1


def test_a_revision_updates_and_keeps_history_and_a_cancellation_withdraws(sessions):
    utility = FakeUtility(works=[_notice()])
    ctx = fake_context(sessions, utility)
    run_step(ctx, "pull_planned_works")
    utility.works = [_notice(revision=2, reason="ремонт колодязя")]
    assert run_step(ctx, "pull_planned_works")["revised"] == 1
    utility.works = [_notice(revision=3, reason="ремонт колодязя", cancelled=True)]
    assert run_step(ctx, "pull_planned_works")["cancelled"] == 1
    (announcement,) = _announcements(sessions)
    assert announcement.state == "cancelled" and announcement.revision == 3
    with sessions() as session:
        history = session.scalars(select(AnnouncementRevision).order_by(AnnouncementRevision.id)).all()
        assert [(r.revision, r.state) for r in history] == [(1, "active"), (2, "active"), (3, "cancelled")]
        assert "ремонт колодязя" in history[1].payload["body"]


def test_an_older_revision_changes_nothing(sessions):
    utility = FakeUtility(works=[_notice(revision=5)])
    ctx = fake_context(sessions, utility)
    run_step(ctx, "pull_planned_works")
    utility.works = [_notice(revision=4, reason="стара версія")]
    assert run_step(ctx, "pull_planned_works")["unchanged"] == 1
    assert "стара версія" not in _announcements(sessions)[0].body_uk


def test_ended_works_expire_on_their_own(sessions):
    # (an end an hour away: on a loaded machine a second could pass before the first pull)
    utility = FakeUtility(works=[_notice(ends_at=utcnow() + timedelta(hours=1))])
    ctx = fake_context(sessions, utility)
    run_step(ctx, "pull_planned_works")
    utility.works = []
    ctx.clock = lambda: utcnow() + timedelta(hours=2)
    assert run_step(ctx, "pull_planned_works")["expired"] == 1
    assert _announcements(sessions)[0].state == "expired"


def test_planned_notice_less_than_ten_working_days_ahead_is_flagged_late(sessions):
    now = utcnow()
    utility = FakeUtility(works=[
        _notice(notice_id="late", kind="planned", starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=4),
                announced_at=now),
        _notice(notice_id="early", kind="planned", starts_at=now + timedelta(days=20),
                ends_at=now + timedelta(days=21), announced_at=now),
        _notice(notice_id="emergency", kind="emergency", announced_at=now),
    ])
    run_step(fake_context(sessions, utility), "pull_planned_works")
    flags = {a.notice_id: a.late_notice for a in _announcements(sessions)}
    assert flags == {"late": True, "early": False, "emergency": False}


def test_request_inside_an_active_outage_joins_it_instead_of_becoming_a_job(sessions):
    utility = FakeUtility(works=[_notice()])
    ctx = fake_context(sessions, utility)
    run_step(ctx, "pull_planned_works")
    inside = register(sessions, "no-cold-water-building", street="вулиця СОБОРНОСТІ", house="14а")
    other_side = register(sessions, "no-cold-water-building", street="вул. Соборності", house="15")
    other_service = register(sessions, "leak-underground", street="вул. Соборності", house="16")
    counts = run_step(ctx, "push_jobs")
    assert counts["linked"] == 1
    assert {d.reference for d in utility.jobs.values()} == {other_side, other_service}
    with sessions() as session:
        request = request_by_number(session, inside)
        assert dispatch_of(session, inside).state == states.LINKED
        assert request.announcement_id is not None and request.status == RequestStatus.IN_PROGRESS
        assert any(h.field == "link" and "known outage" in h.note for h in request.history)
    # the works end: the linked request closes with them
    utility.works = [_notice(revision=2, ends_at=utcnow() - timedelta(minutes=1))]
    assert run_step(ctx, "pull_planned_works")["closed_with_outage"] == 1
    with sessions() as session:
        assert request_by_number(session, inside).status == RequestStatus.DONE


def test_cancelled_outage_sends_its_linked_requests_on_as_jobs(sessions):
    utility = FakeUtility(works=[_notice()])
    ctx = fake_context(sessions, utility)
    run_step(ctx, "pull_planned_works")
    number = register(sessions, "no-cold-water-building", street="вул. Соборності", house="20")
    run_step(ctx, "push_jobs")
    assert utility.create_calls == 0
    utility.works = [_notice(revision=2, cancelled=True)]
    assert run_step(ctx, "pull_planned_works")["released_from_outage"] == 1
    run_step(ctx, "push_jobs")
    assert [d.reference for d in utility.jobs.values()] == [number]


def test_outage_that_started_after_the_request_does_not_swallow_it(sessions):
    utility = FakeUtility(works=[_notice(starts_at=utcnow() + timedelta(hours=2))])
    ctx = fake_context(sessions, utility)
    run_step(ctx, "pull_planned_works")
    number = register(sessions, "no-cold-water-building", street="вул. Соборності", house="14")
    run_step(ctx, "push_jobs")
    assert [d.reference for d in utility.jobs.values()] == [number]


def test_repeat_request_at_the_same_address_joins_the_open_job_and_follows_it(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    now = utcnow()
    first = register(sessions, "leak-underground", street="просп. Металургів", house="9а", at=now - timedelta(hours=3))
    run_step(ctx, "push_jobs")
    repeat = register(sessions, "leak-underground", street="Металургів", house="9 А", at=now)
    other_house = register(sessions, "leak-underground", street="просп. Металургів", house="11", at=now)
    other_item = register(sessions, "no-water-network", street="просп. Металургів", house="9а", at=now)
    counts = run_step(ctx, "push_jobs")
    assert counts["linked"] == 1
    assert sorted(d.reference for d in utility.jobs.values()) == sorted([first, other_house, other_item])
    with sessions() as session:
        assert dispatch_of(session, repeat).linked_dispatch_id == dispatch_of(session, first).id
        assert request_by_number(session, repeat).status == RequestStatus.SENT
        job = dispatch_of(session, first).job_id
    utility.change(job, "DONE", utcnow())
    run_step(ctx, "pull_status_changes")
    with sessions() as session:
        assert request_by_number(session, repeat).status == RequestStatus.DONE


def test_repeat_request_after_the_window_makes_a_new_job(sessions):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    now = utcnow()
    first = register(sessions, "leak-underground", street="вул. Кобилянського", house="120",
                     at=now - timedelta(hours=49))
    run_step(ctx, "push_jobs")
    later = register(sessions, "leak-underground", street="вул. Кобилянського", house="120", at=now)
    run_step(ctx, "push_jobs")
    assert sorted(d.reference for d in utility.jobs.values()) == sorted([first, later])


def test_a_linked_request_reopened_after_the_works_goes_to_the_utility_as_its_own_job(sessions):
    from gateway.sync.bookkeeping import set_request_status

    utility = FakeUtility(works=[_notice()])
    ctx = fake_context(sessions, utility)
    run_step(ctx, "pull_planned_works")
    number = register(sessions, "no-cold-water-building", street="вул. Соборності", house="14")
    run_step(ctx, "push_jobs")
    utility.works = [_notice(revision=2, ends_at=utcnow() - timedelta(minutes=1))]
    run_step(ctx, "pull_planned_works")
    assert utility.create_calls == 0
    with sessions() as session, session.begin():  # the resident calls back: still no water
        set_request_status(session, request_by_number(session, number), RequestStatus.REWORK,
                           actor="operator:olena", note="після завершення робіт води немає")
    assert run_step(ctx, "push_jobs")["reopened"] == 1
    assert [d.reference for d in utility.jobs.values()] == [number]
    with sessions() as session:
        request = request_by_number(session, number)
        assert request.announcement_id is None and dispatch_of(session, number).state == states.SENT
        assert "reopened by the contact centre" in request.history[-1].note or any(
            "reopened" in (h.note or "") for h in request.history)
