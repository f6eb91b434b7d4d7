"""The public service over real HTTP (uvicorn on loopback) against a database with known content:
Open311 GeoReport v2 (filters, paging, field names, error format, validated against the standard's
shapes), the announcement feeds read back with their standard parsers, caching headers, CORS, OpenAPI."""

from __future__ import annotations

import json
from datetime import timedelta
from email.utils import parsedate_to_datetime

import feedparser
import httpx
import icalendar
import jsonschema
import pytest

from gateway.db import utcnow
from gateway.public.app import create_app
from tests.public_fixtures import HOTLINE, TANKER, seed, serving

W3C = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$"
NULLABLE_TIME = {"type": ["string", "null"], "pattern": W3C}
# GeoReport v2 (wiki.open311.org/GeoReport_v2): the fields of each response. No other field may appear:
# that is also how a stray resident field (flat, contact_name) would show.
SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"],
    "additionalProperties": False,
    "properties": {"service_code": {"type": "string"}, "service_name": {"type": "string"},
                   "description": {"type": "string"}, "metadata": {"type": "boolean"},
                   "type": {"enum": ["realtime", "batch", "blackbox"]}, "keywords": {"type": "string"},
                   "group": {"type": "string"}},
}
SERVICE_DEFINITION = {"type": "object", "required": ["service_code", "attributes"], "additionalProperties": False,
                      "properties": {"service_code": {"type": "string"}, "attributes": {"type": "array"}}}
REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                 "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                 "expected_datetime", "address", "lat", "long"],
    "additionalProperties": False,
    "properties": {
        "service_request_id": {"type": "string"}, "status": {"enum": ["open", "closed"]},
        "status_notes": {"type": ["string", "null"]}, "service_name": {"type": "string"},
        "service_code": {"type": "string"}, "description": {"type": "string"},
        "agency_responsible": {"type": "string"}, "service_notice": {"type": ["string", "null"]},
        "requested_datetime": {"type": "string", "pattern": W3C}, "updated_datetime": NULLABLE_TIME,
        "expected_datetime": NULLABLE_TIME, "address": {"type": "string"}, "address_id": {"type": "string"},
        "zipcode": {"type": "string"}, "lat": {"type": ["number", "null"]}, "long": {"type": ["number", "null"]},
        "media_url": {"type": "string"},
        "extended_attributes": {"type": "object", "required": ["status"], "additionalProperties": False,
                                "properties": {"status": {"type": "string"}}},
    },
}
ERRORS = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["code", "description"], "additionalProperties": False,
    "properties": {"code": {"type": "integer"}, "description": {"type": "string", "minLength": 1}}}}


def listing(schema):
    return {"type": "array", "items": schema}


@pytest.fixture
def service(database_url, sessions):
    known = seed(sessions, utcnow(), extra_requests=7)
    with serving(create_app(database_url, origins=["https://kr.gov.ua"])) as base, \
            httpx.Client(base_url=base, timeout=10) as client:
        yield client, known


def get(client: httpx.Client, path: str, **kw) -> httpx.Response:
    return client.get(path, **kw)


def numbers(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    rows = response.json()
    jsonschema.validate(rows, listing(REQUEST))
    return [row["service_request_id"] for row in rows]


def test_open311_services_and_definitions(service):
    base, _ = service
    services = get(base, "/open311/v2/services.json").json()
    jsonschema.validate(services, listing(SERVICE))
    leak = next(s for s in services if s["service_code"] == "3.18")
    assert leak["service_name"] == "витік теплоносія на тепломережі"
    definition = get(base, "/open311/v2/services/3.18.json")
    jsonschema.validate(definition.json(), SERVICE_DEFINITION)
    assert definition.json()["service_code"] == "3.18"
    missing = get(base, "/open311/v2/services/99.99.json")
    assert missing.status_code == 404
    jsonschema.validate(missing.json(), ERRORS)


def test_open311_requests_filters(service):
    base, known = service
    assert numbers(get(base, "/open311/v2/requests.json", params={"page_size": 1000})) == known.numbers
    by_code = numbers(get(base, "/open311/v2/requests.json", params={"service_code": "3.13,4.1"}))
    assert set(by_code) == known.by_code["3.13"] | known.by_code["4.1"]
    assert numbers(get(base, "/open311/v2/requests.json", params={"service_code": "99.1"})) == []
    opened = numbers(get(base, "/open311/v2/requests.json", params={"status": "open", "page_size": 1000}))
    assert set(opened) == known.open_numbers
    closed = numbers(get(base, "/open311/v2/requests.json", params={"status": "closed", "page_size": 1000}))
    assert set(closed) == set(known.numbers) - known.open_numbers and closed
    both = numbers(get(base, "/open311/v2/requests.json", params={"status": "open,closed", "page_size": 1000}))
    assert both == known.numbers
    # Registered in [start, end): the last 5 days, then 5 to 50 days back, with the Kyiv offset written out.
    start = (known.now - timedelta(days=5)).isoformat()
    recent = numbers(get(base, "/open311/v2/requests.json", params={"start_date": start}))
    assert recent == [n for n in known.numbers if known.registered[n] >= known.now - timedelta(days=5)]
    older = numbers(get(base, "/open311/v2/requests.json", params={
        "start_date": (known.now - timedelta(days=50)).isoformat(), "end_date": start}))
    window = (known.now - timedelta(days=50), known.now - timedelta(days=5))
    assert older and set(older) == {n for n in known.numbers if window[0] <= known.registered[n] < window[1]}
    picked = ",".join(known.numbers[:2])
    assert numbers(get(base, "/open311/v2/requests.json", params={"service_request_id": picked})) == known.numbers[:2]
    one = get(base, f"/open311/v2/requests/{known.numbers[0]}.json")
    assert numbers(one) == [known.numbers[0]]


def test_open311_pages_cover_everything_and_say_so(service):
    base, known = service
    seen: list[str] = []
    url = "/open311/v2/requests.json?page_size=3"
    while url:
        response = base.get(url)
        assert response.headers["X-Total-Count"] == str(len(known.numbers))
        seen += numbers(response)
        url = response.links.get("next", {}).get("url")
    assert seen == known.numbers  # every request once, in order, over 4 pages: nothing cut
    last = get(base, "/open311/v2/requests.json", params={"page_size": 3, "page": 4})
    assert "next" not in last.links and last.links["prev"]["url"].endswith("page=3")
    assert numbers(get(base, "/open311/v2/requests.json", params={"page_size": 3, "page": 9})) == []


ERROR_CASES = [
    ("/open311/v2/requests.json", {"page_size": 1001}, 400, "page_size 1001 is over the limit of 1000"),
    ("/open311/v2/requests.json", {"page": 0}, 400, "page"),
    ("/open311/v2/requests.json", {"start_date": "вчора"}, 400, "start_date 'вчора' is not a W3C datetime"),
    ("/open311/v2/requests.json", {"status": "pending"}, 400, "status 'pending'"),
    ("/open311/v2/requests.json", {"start_date": "2026-12-02T00:00:00+02:00", "end_date": "2026-12-01T00:00:00+02:00"},
     400, "end_date"),
    ("/open311/v2/requests.xml", {}, 400, "format 'xml' is not served"),
    ("/open311/v2/requests.json", {"jurisdiction_id": "kyiv.gov.ua"}, 404, "jurisdiction_id 'kyiv.gov.ua' not found"),
    ("/open311/v2/requests/1520-1999-000001.json", {}, 404, "service_request_id '1520-1999-000001' not found"),
    ("/open311/v2/tokens.json", {}, 404, "Not Found"),
]


def test_open311_errors_in_the_standards_shape(service):
    base, _ = service
    for path, params, code, says in ERROR_CASES:
        response = get(base, path, params=params)
        assert response.status_code == code, (path, params, response.text)
        jsonschema.validate(response.json(), ERRORS)
        assert response.json()[0]["code"] == code and says in response.json()[0]["description"], response.text


def test_announcements_json_and_geojson(service):
    base, _ = service
    data = get(base, "/announcements.json").json()
    ids = [a["id"] for a in data["announcements"]]
    # Current and upcoming only, by start: the cancelled and the finished notices are not listed.
    assert ids == ["vodokanal-PW-00001", "teplotsentral-78431", "ecospectrans-SCH-7", "teplotsentral-78500"]
    assert data["count"] == 4
    water = data["announcements"][0]
    assert water["hotline"] == HOTLINE and water["tanker_location"] == TANKER
    assert water["streets"] == ["вул. Соборності", "пров. Ковальський"] and water["district"] == "Довгинцівський"
    assert [a["id"] for a in get(base, "/announcements.json", params={"provider": "teplotsentral"})
            .json()["announcements"]] == ["teplotsentral-78431", "teplotsentral-78500"]
    on_street = get(base, "/announcements.json", params={"street": "вулиця Леніна", "house": "16а"}).json()
    assert [a["id"] for a in on_street["announcements"]] == ["vodokanal-PW-00001"]  # old name, letter house
    assert get(base, "/announcements.json", params={"street": "Соборності", "house": "15"}).json()["count"] == 0

    geo = get(base, "/announcements.geojson")
    assert geo.headers["content-type"] == "application/geo+json"
    collection = geo.json()
    assert collection["type"] == "FeatureCollection" and collection["without_coordinates"] == 1  # Солов'їна
    for feature in collection["features"]:
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]  # RFC 7946: longitude first
        assert 33.0 < lon < 34.0 and 47.5 < lat < 48.2
        assert round(lon, 3) == lon and round(lat, 3) == lat
        assert feature["properties"]["id"] in ids
    assert {f["id"] for f in collection["features"]} >= {"vodokanal-PW-00001/вул. Соборності",
                                                         "ecospectrans-SCH-7/просп. Гагаріна"}


def test_calendars_parse_with_icalendar(service):
    base, _ = service

    def events(path: str) -> dict[str, icalendar.Event]:
        response = get(base, path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
        calendar = icalendar.Calendar.from_ical(response.text)
        return {str(e["UID"]).split("@")[0]: e for e in calendar.walk("VEVENT")}

    everything = events("/announcements.ics")
    assert set(everything) == {"vodokanal-PW-00001", "teplotsentral-78431", "ecospectrans-SCH-7",
                               "teplotsentral-78500"}
    assert "DTEND" not in everything["ecospectrans-SCH-7"]  # the new collection day has no end
    assert int(everything["teplotsentral-78431"]["SEQUENCE"]) == 2
    assert set(events("/announcements/utility/teplotsentral.ics")) == {"teplotsentral-78431", "teplotsentral-78500"}
    assert set(events("/announcements/street/вулиця Соборності.ics")) == {"vodokanal-PW-00001"}
    assert set(events("/announcements/street/просп. Металургів.ics?house=9 А")) == {"teplotsentral-78431"}
    assert events("/announcements/street/вул. Тбіліська.ics") == {}  # its works are over
    assert get(base, "/announcements/utility/nobody.ics").status_code == 404


def test_atom_feed_parses_with_feedparser(service):
    base, _ = service
    response = get(base, "/announcements.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10" and feed.feed.title.startswith("Кривий Ріг 1520")
    assert [e.id.rsplit("/", 2)[-2:] for e in feed.entries] == [
        ["vodokanal", "PW-00001"], ["teplotsentral", "78431"], ["ecospectrans", "SCH-7"], ["teplotsentral", "78500"]]
    water = feed.entries[0]
    assert "Соборності" in water.title and TANKER.rstrip(".") in water.content[0].value
    assert water.link.endswith("/#vodokanal-PW-00001") and water.updated_parsed


def test_caching_headers_and_conditional_get(service):
    base, _ = service
    first = get(base, "/announcements.json")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert "max-age" in first.headers["Cache-Control"]
    assert parsedate_to_datetime(modified) <= utcnow()
    again = get(base, "/announcements.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert get(base, "/announcements.json", headers={"If-None-Match": '"other"'}).status_code == 200
    assert get(base, "/open311/v2/services.json").headers["ETag"]


def test_cors_for_the_city_site_only(service):
    base, _ = service
    allowed = get(base, "/announcements.json", headers={"Origin": "https://kr.gov.ua"})
    assert allowed.headers["access-control-allow-origin"] == "https://kr.gov.ua"
    assert "X-Total-Count" in allowed.headers["access-control-expose-headers"]
    other = get(base, "/announcements.json", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = base.options("/open311/v2/requests.json", headers={
        "Origin": "https://kr.gov.ua", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "https://kr.gov.ua"


def test_openapi_documents_every_endpoint(service):
    base, _ = service
    paths = set(get(base, "/openapi.json").json()["paths"])
    assert paths >= {"/open311/v2/services.{fmt}", "/open311/v2/services/{service_code}.{fmt}",
                     "/open311/v2/requests.{fmt}", "/open311/v2/requests/{service_request_id}.{fmt}",
                     "/announcements.json", "/announcements.geojson", "/announcements.atom", "/announcements.ics",
                     "/announcements/utility/{provider}.ics", "/announcements/street/{street}.ics", "/lookup", "/"}
    docs = get(base, "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_cors_origins_come_from_the_environment(monkeypatch):
    from gateway.public.app import cors_origins

    monkeypatch.setenv("GATEWAY_PUBLIC_CORS_ORIGINS", "https://1520.kr.gov.ua, https://kr.gov.ua")
    assert cors_origins() == ["https://1520.kr.gov.ua", "https://kr.gov.ua"]
    monkeypatch.delenv("GATEWAY_PUBLIC_CORS_ORIGINS")
    assert cors_origins() == ["https://kr.gov.ua", "https://www.kr.gov.ua"]
    assert json.loads(json.dumps(cors_origins(["https://x.example"]))) == ["https://x.example"]
