"""Property: random personal data never reaches a public response.

Hypothesis makes residents (names, phones in every Ukrainian form, flats, exact coordinates) and
writes them into requests the way people do (description, the house field, the operator's note with
a job id) and into a utility's notice (a resident's phone and flat pasted into the reason). Every
public endpoint of the running service, over real HTTP, and every ``gateway export`` is then
searched for any trace of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gateway import export_views, exports
from gateway.addresses import StreetHouses
from gateway.announcements import upsert_notice
from gateway.connector import PlannedWork
from gateway.db import utcnow
from gateway.demo_data import register_request
from gateway.models import Dispatch
from gateway.public.app import create_app
from gateway.reference_data import items_by_code
from gateway.statuses import RequestStatus
from gateway.sync.bookkeeping import add_history
from tests.public_fixtures import serving

CYRILLIC = "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя"
FIRST_NAMES = ["Олена", "Іван", "Тетяна", "Микола", "Оксана", "Богдан", "Ярослава", "Дмитро", "Галина", "Василь"]
SURNAME_ENDINGS = ["енко", "чук", "ишин", "ський", "ович"]
MOBILE_CODES = ["50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"]
PHONE_FORMATS = [
    "+380{c}{a}{b}{d}", "+380 {c} {a} {b} {d}", "+38 (0{c}) {a}-{b}-{d}", "380{c}{a}{b}{d}", "0{c} {a} {b} {d}",
    "0{c}-{a}-{b}-{d}", "(0{c}) {a}-{b}-{d}", "0{c}{a}{b}{d}", "0{c}.{a}.{b}.{d}", "{a}-{b}-{d}", "{a} {b} {d}",
    "тел. 0{c}{a}…", "тел.0{c}{a}{b}{d}",
]
DESCRIPTIONS = [
    "Немає холодної води, {name}, {flat}, {phone}",
    "{name} просить передзвонити на {phone}",
    "прошу передати {lower} ({phone}), {flat}",
    "Відсутнє опалення у {flat}, телефон {phone}, {name_gen}",
    "{phone}",
]
FLAT_FORMATS = ["кв. {n}", "кв.{n}", "квартира {n}", "квартирі {n}", "кв {n}"]


@dataclass(frozen=True)
class Resident:
    name: str
    phone_digits: str  # 12 digits, 380XXXXXXXXX
    phone_written: str
    flat: int
    flat_written: str
    description: str
    job_id: str
    lat: float
    lon: float


@st.composite
def residents(draw) -> Resident:
    first = draw(st.sampled_from(FIRST_NAMES))
    stem = draw(st.text(alphabet=CYRILLIC, min_size=3, max_size=7).filter(lambda s: "ь" not in s[:1]))
    surname = stem[:1].upper() + stem[1:] + draw(st.sampled_from(SURNAME_ENDINGS))
    code = draw(st.sampled_from(MOBILE_CODES))
    number = draw(st.integers(1_000_000, 9_999_999))
    a, b, d = str(number)[:3], str(number)[3:5], str(number)[5:]
    phone = draw(st.sampled_from(PHONE_FORMATS)).format(c=code, a=a, b=b, d=d)
    flat = draw(st.integers(1, 999))
    flat_written = draw(st.sampled_from(FLAT_FORMATS)).format(n=flat)
    name = f"{first} {surname}"
    description = draw(st.sampled_from(DESCRIPTIONS)).format(
        name=name, lower=name.lower(), name_gen=f"{first[:-1]}и {surname}", phone=phone, flat=flat_written)
    return Resident(
        name=name, phone_digits=f"380{code}{number}", phone_written=phone, flat=flat, flat_written=flat_written,
        description=description, job_id=str(draw(st.integers(100_000, 9_999_999))),
        lat=draw(st.floats(47.70, 48.05)), lon=draw(st.floats(33.20, 33.50)),
    )


def leaks(text: str, resident: Resident) -> list[str]:
    """Every trace of the resident in a public text."""
    found = []
    folded = text.casefold()
    found += [part for part in resident.name.split() if part.casefold() in folded]
    if resident.phone_written.rstrip("…") in text:
        found.append(resident.phone_written)
    joined = re.sub(r"[\s().+-]", "", text)
    if resident.phone_digits[-7:] in joined:  # the number in any grouping
        found.append(resident.phone_digits[-7:])
    if re.search(rf"кв\w*\.?\s*№?\s*{resident.flat}(?!\d)", text, re.IGNORECASE):
        found.append(resident.flat_written)
    if resident.job_id in text:
        found.append(resident.job_id)
    for value in (resident.lat, resident.lon):
        if round(value, 3) != value and f"{value:.5f}"[:-1] in text:  # more than a block's precision
            found.append(str(value))
    return found


def add_resident(session, resident: Resident, n: int, now) -> str:
    items = items_by_code(session)
    request = register_request(
        session, item=items["3.1"], street="вул. Соборності", house=f"{14 + 2 * n}, {resident.flat_written}",
        flat=str(resident.flat), description=resident.description, registered_at=now - timedelta(minutes=n),
        contact_name=resident.name, contact_phone=f"+{resident.phone_digits}", lat=resident.lat, lon=resident.lon)
    request.status = RequestStatus.SENT
    add_history(session, request, actor="sync:vodokanal", field="status", old=RequestStatus.REGISTERED,
                new=RequestStatus.SENT, at=now,
                note=f"Кривбасводоканал: job {resident.job_id}; дзвонили {resident.name}, {resident.phone_written}")
    session.flush()
    session.add(Dispatch(request_id=request.id, provider="vodokanal", reference=request.number,
                         idempotency_key=f"vodokanal:{request.number}", job_id=resident.job_id, state="sent",
                         next_attempt_at=now, created_at=now, updated_at=now, sent_at=now))
    upsert_notice(session, "vodokanal", "КП «Кривбасводоканал»", PlannedWork(
        notice_id=f"PW-P{n}", revision=1, kind="emergency", service="cold_water",
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=5),
        addresses=(StreetHouses("вул. Соборності", houses=(str(14 + 2 * n),)),),
        reason=f"скарга з {resident.flat_written}, тел. {resident.phone_written}",
        tanker_location=f"біля будинку {14 + 2 * n}, дзвоніть {resident.phone_written}",
        contact_phone="0 800 500 152"), now)
    return request.number


@pytest.fixture
def public_service(database_url, sessions):
    with serving(create_app(database_url)) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client, sessions


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resident=residents())
def test_random_personal_data_never_reaches_a_public_response(public_service, resident):
    client, sessions = public_service
    now = utcnow()
    with sessions.begin() as session:
        n = session.scalar(select(func.count()).select_from(Dispatch))
        number = add_resident(session, resident, n, now)
        house = str(14 + 2 * n)
    responses = {
        path: client.get(path, params=params)
        for path, params in [
            ("/open311/v2/requests.json", {"page_size": 1000}),
            (f"/open311/v2/requests/{number}.json", {}),
            ("/announcements.json", {}),
            ("/announcements.geojson", {}),
            ("/announcements.ics", {}),
            ("/announcements/utility/vodokanal.ics", {}),
            ("/announcements/street/вул. Соборності.ics", {}),
            ("/announcements.atom", {}),
            ("/", {}),
            ("/", {"street": "вулиця Соборності", "house": house}),
            ("/lookup", {"street": "вул. Соборності", "house": house}),
        ]
    }
    for path, response in responses.items():
        assert response.status_code == 200, (path, response.text)
    assert number in responses[f"/open311/v2/requests/{number}.json"].text  # the request itself is published
    assert number in responses["/lookup"].text  # and the operator sees the open job
    with sessions() as session:
        for what, fmt in (("requests-open311", "json"), ("announcements", "json"), ("announcements", "ical")):
            responses[f"gateway export {what} --format {fmt}"] = export_views.export(session, what, fmt, now=now)
    for where, response in responses.items():
        text = response if isinstance(response, str) else response.text
        if where.endswith(".ics") or "ical" in where:  # unfold and unescape what iCalendar folded
            text = text.replace("\r\n ", "").replace("\\,", ",").replace("\\;", ";")
        if where.endswith(".json") or where.startswith("/lookup") or where.endswith("geojson"):
            text = json.dumps(response.json(), ensure_ascii=False)
        assert leaks(text, resident) == [], (where, resident)


@settings(max_examples=200, deadline=None)
@given(resident=residents())
def test_random_personal_data_never_reaches_an_open311_record(resident):
    """The same property without a database, on many more residents: the exports' own functions."""
    view = exports.RequestView(
        "1520-2026-000001", "3.1", "немає холодної води в будинку", "Житлово-комунальне господарство",
        "КП «Кривбасводоканал»", RequestStatus.SENT, resident.description, "вулиця Соборності",
        f"14, {resident.flat_written}", utcnow(), utcnow(), None, resident.lat, resident.lon,
        contact_name=resident.name, contact_phone=f"+{resident.phone_digits}", flat=str(resident.flat))
    text = json.dumps(exports.open311_requests([view]), ensure_ascii=False)
    assert leaks(text, resident) == []
