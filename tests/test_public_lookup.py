"""The operator's lookup over real HTTP: the outage and the open job are found for the spellings
operators type (вул./вулиця, case, apostrophes, old street names, house letters), with no personal data."""

from __future__ import annotations

import httpx
import pytest

from gateway.db import utcnow
from gateway.public.app import create_app
from tests.public_fixtures import seed, serving

WATER, HEATING, HOT_WATER = "vodokanal-PW-00001", "teplotsentral-78431", "teplotsentral-78500"
SPELLINGS = [  # (street, house) as typed -> the announcement found
    ("вул. Соборності", "16", WATER),
    ("вулиця Соборності", "16", WATER),
    ("ВУЛ.СОБОРНОСТІ", "20", WATER),
    ("Соборності", "31", WATER),
    ("вул. Леніна", "16", WATER),  # the street's old name
    ("вулиця Леніна", "буд. 16-а", WATER),  # a letter building inside the range
    ("провулок Гоголівський", "7", WATER),  # old name of пров. Ковальський, the whole lane
    ("просп. Металургів", "9 А", HEATING),
    ("проспект металургів", "9a", HEATING),  # Latin a typed for the Cyrillic one
    ("вул. Солов'їна", "3", HOT_WATER),
    ("вулиця Солов’їна", "5", HOT_WATER),  # typographic apostrophe
    ("вул. Соловʼїна", "3", HOT_WATER),  # the modifier letter apostrophe
    ("вул. Соловїна", "3", None),  # no apostrophe at all is another word: nothing is guessed
    ("вул. Соборності", "15", None),  # odd house outside the even range
]


@pytest.fixture
def lookup(database_url, sessions):
    known = seed(sessions, utcnow())
    with serving(create_app(database_url)) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client, known


def test_lookup_finds_the_outage_for_the_spellings_operators_type(lookup):
    client, _ = lookup
    for street, house, expected in SPELLINGS:
        response = client.get("/lookup", params={"street": street, "house": house})
        assert response.status_code == 200, response.text
        body = response.json()
        found = [o["id"] for o in body["outages"]]
        assert found == ([expected] if expected else []), (street, house, body)
        if expected == WATER:
            assert body["street"] in ("вул. Соборності", "пров. Ковальський") and body["known_street"]
            assert body["outages"][0]["active_now"] is True and "роз'яснення" in body["advice_uk"]
        if expected == HEATING:
            assert body["outages"][0]["active_now"] is False  # tomorrow's works: upcoming


def test_lookup_finds_the_open_job_at_the_address_by_its_old_name(lookup):
    client, known = lookup
    body = client.get("/lookup", params={"street": "просп. Карла Маркса", "house": "5"}).json()
    assert body["street"] == "просп. Поштовий" and body["outages"] == []
    (job,) = body["open_jobs"]
    assert job["service_request_id"] == known.job_request and job["utility"] == "vodokanal"
    assert job["status"] == "open" and known.job_request in body["advice_uk"]
    text = client.get("/lookup", params={"street": "Поштовий", "house": "5"}).text
    assert known.job_request in text
    for secret in ("240039", "Іван", "Мельник", "0501234567", "401-23-45", "кв. 12"):
        assert secret not in text
    assert client.get("/lookup", params={"street": "просп. Поштовий", "house": "7"}).json()["open_jobs"] == []


def test_lookup_without_a_house_lists_the_street_and_refuses_no_street(lookup):
    client, _ = lookup
    body = client.get("/lookup", params={"street": "вулиця соборності"}).json()
    assert [o["id"] for o in body["outages"]] == [WATER] and body["house"] is None
    assert client.get("/lookup", params={"street": ""}).status_code == 422
    assert client.get("/lookup").status_code == 422
