"""No secret and no resident's phone number in any log record or stored error; each utility receives
only the resident data its mapping sends.

A full sync of each utility (planned works, push with a dropped reply, status pull with a 5xx and
rejected feed items, updates with one refused, planned works again with a malformed reply) runs
against its simulator with every logger at DEBUG: the gateway's, zeep's, urllib3's and requests'.
Then no log record (message with its arguments rendered, traceback included) holds an API key,
password, client secret, issued bearer token, or any resident's phone number in any common
formatting, and neither do the dead letters or the error columns stored in the database. And the
simulator's copy of every job shows no resident field the mapping does not list in ``send_fields``,
and never the resident's name.

SQLAlchemy keeps its own loggers at WARNING unless told otherwise; with SQL echo on they would print
every statement's parameters, phone numbers included, had the engine not hide_parameters=True
(``test_sql_echo_logs_no_phone_number``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.db import utcnow
from gateway.demo_data import register_request
from gateway.errors import ConnectorError
from gateway.models import CircuitBreaker, DeadLetter, Dispatch, OutboundUpdate, Request, RequestHistory, SyncRun
from gateway.reference_data import items_by_code
from gateway.statuses import RequestStatus
from gateway.sync.bookkeeping import add_history, set_request_status
from gateway.sync.engine import run_step
from tests.conformance.helpers import CONNECTORS, REGISTRY, context, served_codes, start_simulator

LIBRARY_LOGGERS = ("gateway", "connectors", "simulators", "zeep", "urllib3", "requests", "airflow")

# Residents: names and phones as operators type them. A crew comment in the feed and a flat field
# misused for a phone carry numbers too: all must stay out of logs and stored errors.
RESIDENTS = [
    ("Коваленко Олена Петрівна", "+380674829153"),
    ("Шевчук Іван Миколайович", "067 391 58 26"),
    ("Бондар Марія", "+38 (096) 718-24-39"),
    ("Ткаченко Петро", "0509637481"),
    ("Мельник Оксана", "+380 63 275 91 84"),
]
PHONE_IN_FLAT = "5 т.0991357246"  # 14 characters: also too long for teplotsentral's Flat (10)
CREW_COMMENT = "Мешканець просить дзвонити на 068 246 13 57 перед приїздом"
DETAILS = "Заявниця просить передзвонити на (073) 864-20-19 після 18:00"
EXTRA_PHONES = ["0991357246", "068 246 13 57", "(073) 864-20-19"]

FIELD_KEYS = {"contact_phone": {"contact_phone", "phone"}, "flat": {"flat"}, "coordinates": {"lat", "lon"}}


def subscriber_digits(phone: str) -> str:
    """The 9 digits after the country and trunk prefix: the same in +380..., 0XX..., spaced or dashed."""
    return re.sub(r"\D", "", phone)[-9:]


def leaked_phones(text: str, phones: list[str]) -> list[str]:
    """Phones (of ``phones``) that ``text`` holds in any formatting."""
    squeezed = re.sub(r"(?<=\d)[\s\-().+]+(?=\d)", "", text)
    return [p for p in phones if p in text or subscriber_digits(p) in squeezed]


def record_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        text += "\n" + record.exc_text
    if record.stack_info:
        text += "\n" + record.stack_info
    return text


def secrets_of(sim, name: str) -> list[str]:
    config = sim.connection_config()
    found = [config.password]
    if config.login and config.password:  # HTTP Basic, as the token request sends it
        found.append(base64.b64encode(f"{config.login}:{config.password}".encode()).decode())
    if hasattr(sim, "issued_tokens"):  # a bearer token is a secret too
        found += sim.issued_tokens()
    return [s for s in found if s]


def register(sessions, manifest) -> list[str]:
    codes = served_codes(manifest)
    numbers = []
    with sessions.begin() as session:
        items = items_by_code(session)
        for n, (resident, phone) in enumerate(RESIDENTS):
            code = codes[n % len(codes)]
            request = register_request(
                session, item=items[code], street="вул. Кобилянського", house=str(120 + 2 * n),
                flat=PHONE_IN_FLAT if n == len(RESIDENTS) - 1 else f"{40 + n}",
                description=f"{items[code].name_uk}: перевірка журналів {n}", contact_name=resident,
                contact_phone=phone, lat=47.9105 + n / 1000, lon=33.3918 + n / 1000,
                registered_at=utcnow() - timedelta(minutes=30 - n), executor_id=manifest.executor,
            )
            numbers.append(request.number)
    return numbers


def run(ctx, step: str) -> None:
    with contextlib.suppress(ConnectorError):  # a step that gives up after its retries: its logs count too
        run_step(ctx, step)


def utility_notes(sim, job_id: str) -> list:
    """The notes or comments the utility holds for a job, as it stored them (whichever its simulator keeps)."""
    held = getattr(sim, "notes", None) or sim.comments
    return held(job_id)


@pytest.mark.parametrize("name", CONNECTORS)
def test_a_full_sync_logs_no_secret_or_phone_and_sends_only_mapped_fields(name, engine, sessions, caplog):
    caplog.set_level(logging.DEBUG)
    for logger in LIBRARY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=logger)
    manifest = REGISTRY[name]
    announces = "planned_works" in manifest.streams  # an optional stream
    sim = start_simulator(manifest)
    try:
        numbers = register(sessions, manifest)
        ctx = context(manifest, sim, engine)
        routes = sim.routes

        if announces:
            sim.add_planned_work()
            sim.faults.inject("malformed", method=routes["planned"][0], path=routes["planned"][1], times=1)
            run(ctx, "pull_planned_works")
        else:
            sim.faults.inject("malformed", method=routes["feed"][0], path=routes["feed"][1], times=1)
            run(ctx, "pull_status_changes")

        sim.faults.inject("drop_after_commit", method=routes["create"][0], path=routes["create"][1], times=1)
        sim.faults.inject("server_error", method=routes["create"][0], path=routes["create"][1], times=1, status=503)
        run(ctx, "push_jobs")
        with sessions.begin() as session:  # anything left unsettled is due again at once
            for dispatch in session.scalars(select(Dispatch).where(Dispatch.state != "sent")):
                dispatch.next_attempt_at = dispatch.created_at
        run(ctx, "push_jobs")
        with sessions() as session:
            jobs = {d.reference: d.job_id for d in session.scalars(select(Dispatch)) if d.job_id}
        assert len(jobs) >= 3, f"too few jobs reached {name} to check anything: {jobs}"

        sim.advance(2)
        sim.inject_noisy_changes([jobs[n] for n in numbers if n in jobs], CREW_COMMENT)  # (no advance after: see below)
        sim.faults.inject("server_error", method=routes["feed"][0], path=routes["feed"][1], times=1, status=503)
        run(ctx, "pull_status_changes")
        run(ctx, "pull_status_changes")

        with sessions.begin() as session:
            requests_ = {r.number: r for r in session.scalars(select(Request).where(Request.number.in_(numbers)))}
            sent = [requests_[n] for n in numbers if n in jobs]
            set_request_status(session, sent[0], RequestStatus.REWORK, actor="operator:olena",
                               note=f"Повернуто: {DETAILS}")
            add_history(session, sent[1], actor="resident", field="details", old=None, new=DETAILS)
            add_history(session, sent[2], actor="resident", field="details", old=None, new=DETAILS)
            bogus = session.scalars(select(Dispatch).where(Dispatch.request_id == sent[2].id)).one()
            bogus.job_id = "NO-SUCH-JOB-1"  # the utility refuses the update: it must be dead-lettered
        sim.faults.inject("drop_after_commit", method=routes["update"][0], path=routes["update"][1], times=1)
        run(ctx, "push_updates")

        if announces:
            sim.revise_planned_work(sim.add_planned_work())
            run(ctx, "pull_planned_works")
        ctx.connector.close()
        assert {"drop_after_commit", "server_error", "malformed"} <= set(sim.faults.injected), sim.faults.injected
        secrets = secrets_of(sim, name)
        phones = [phone for _, phone in RESIDENTS] + EXTRA_PHONES

        # the logs ------------------------------------------------------------------------------------------
        records = [r for r in caplog.records if not r.name.startswith("sqlalchemy")]
        assert any(r.name == f"gateway.connectors.{name}" for r in records), "the connector logged nothing"
        assert any(r.name.startswith("urllib3") and r.levelno == logging.DEBUG for r in records), \
            "urllib3's DEBUG records were not captured"
        if manifest.protocol == "soap":
            assert any("SOAP request RegisterComplaint" in r.getMessage() for r in records), \
                "the SOAP envelopes were not logged at DEBUG"
        if hasattr(sim, "issued_tokens"):
            assert sim.issued_tokens(), "no bearer token was issued"
        for record in records:
            text = record_text(record)
            assert not [s for s in secrets if s in text], f"a secret in {record.name}: {text[:500]}"
            assert not leaked_phones(text, phones), f"a phone in {record.name}: {text[:500]}"

        # what the database keeps for people to read ---------------------------------------------------------
        with sessions() as session:
            letters = session.scalars(select(DeadLetter)).all()
            # the refused update and the rejected feed item (each holding a phone) are dead letters; at
            # (at a utility whose flat field is short, the request whose flat holds a phone is one too)
            expected = {"updates", "status_changes"}
            assert {letter.stream for letter in letters} >= expected, [(x.stream, x.message) for x in letters]
            stored = [json.dumps(letter.payload, ensure_ascii=False) + "\n" + letter.message for letter in letters]
            stored += [d.last_error or "" for d in session.scalars(select(Dispatch))]
            stored += [u.last_error or "" for u in session.scalars(select(OutboundUpdate))]
            stored += [r.error or "" for r in session.scalars(select(SyncRun))]
            stored += [b.last_error or "" for b in session.scalars(select(CircuitBreaker))]
            stored += [h.note or "" for h in session.scalars(select(RequestHistory).where(
                RequestHistory.actor == f"sync:{name}", RequestHistory.field == "dispatch"))]
            # notes and comments: every history row (the utility's comments too), the outbox's texts
            notes = [f"{h.new_value or ''}\n{h.note or ''}" for h in session.scalars(select(RequestHistory))]
            notes += [f"{u.text}\n{u.last_error or ''}" for u in session.scalars(select(OutboundUpdate))]
        for text in stored:
            assert not [s for s in secrets if s in text], f"a secret stored: {text[:500]}"
            assert not leaked_phones(text, phones), f"a phone stored: {text[:500]}"
        # ... and the notes and comments the utility received (residents' own words may hold a phone)
        notes += [json.dumps(n, ensure_ascii=False) for r in sent for n in utility_notes(sim, jobs[r.number])]
        assert any(DETAILS in n for n in notes), "no note reached the scan"
        for text in notes:
            assert not [s for s in secrets if s in text], f"a secret in a note or comment: {text[:500]}"

        # what the utility received ------------------------------------------------------------------------------
        send = ctx.mapping.send_fields
        for request in sent:
            job_id = jobs[request.number]
            payload = sim.job_payload(job_id)
            text = json.dumps(payload, ensure_ascii=False)
            keys = {key.lower() for key, value in _flatten(payload) if value not in (None, "")}
            assert request.contact_name.split()[0] not in text, f"{name} received the resident's name"
            if "contact_phone" not in send:
                assert not keys & FIELD_KEYS["contact_phone"] and not leaked_phones(text, [request.contact_phone])
            if "flat" not in send:
                assert not keys & FIELD_KEYS["flat"] and f'"{request.flat}"' not in text
            if "coordinates" not in send:
                assert not keys & FIELD_KEYS["coordinates"] and f"{request.lat:.4f}"[:6] not in text
    finally:
        sim.stop()


def test_dead_letter_redaction_masks_phones_but_keeps_references_and_dates():
    from gateway.sync.bookkeeping import redact_payload

    payload = {"reference": "1520-2026-000005", "changed_at": "2026-11-28T15:42:38+00:00", "seq": 16,
               "comment": CREW_COMMENT, "text": DETAILS}
    redacted = redact_payload(payload)
    assert not leaked_phones(json.dumps(redacted, ensure_ascii=False), EXTRA_PHONES)
    assert redacted["reference"] == "1520-2026-000005" and redacted["changed_at"] == payload["changed_at"]


def _flatten(value, key: str = ""):
    """(key, leaf value) pairs of a nested payload."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, str(k))
            yield str(k), v if not isinstance(v, dict | list) else "{...}"
    elif isinstance(value, list):
        for v in value:
            yield from _flatten(v, key)
    else:
        yield key, value


def test_sql_echo_logs_no_phone_number(sessions, caplog):
    from tests.sync_helpers import fake_context
    from tests.sync_helpers import register as register_fake

    ctx = fake_context(sessions)
    number = register_fake(sessions)
    run_step(ctx, "push_jobs")
    with sessions.begin() as session:
        request = session.scalars(select(Request).where(Request.number == number)).one()
        add_history(session, request, actor="resident", field="details", old=None, new=DETAILS)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    run_step(ctx, "push_updates")  # queues the update (an INSERT of its text) and sends it
    records = [r for r in caplog.records if r.name.startswith("sqlalchemy")]
    assert records, "SQL echo produced no records"
    leaks = [r for r in records if leaked_phones(record_text(r), EXTRA_PHONES)]
    assert not leaks, f"{len(leaks)} SQL log records hold a phone, e.g. {record_text(leaks[0])[:300]}"
