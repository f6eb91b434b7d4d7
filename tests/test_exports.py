"""Public exports, read back with standard parsers: json for JSON, the icalendar package for iCalendar."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from gateway.classifier import default_classifier
from gateway.exports import (
    OPEN311_STATUS,
    PHONE_MASK,
    announcements_ical,
    announcements_json,
    mask_phones,
    open311_requests,
    open311_services,
)
from gateway.statuses import CLOSED, RequestStatus

KYIV = ZoneInfo("Europe/Kyiv")
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@dataclass
class Ann:
    notice_id: str
    revision: int = 1
    provider: str = "vodokanal"
    provider_title: str = "КП «Кривбасводоканал»"
    kind: str = "planned"
    service: str = "cold_water"
    title_uk: str = "Планове відключення холодного водопостачання — вул. Соборності, просп. Металургів"
    body_uk: str = (
        "КП «Кривбасводоканал» повідомляє: планове відключення холодного водопостачання.\n"
        "Коли: з 09:00 01.12.2026 до 17:00 01.12.2026.\n"
        "Адреси:\nвул. Соборності: 12–28 (парні), 31, 33а; просп. Металургів: 5, 7, 9а\n"
        "Причина: заміна засувки; роботи на водоводі \\ Ø500 мм."
    )
    structured: dict[str, Any] = field(default_factory=lambda: {"service": {"code": "cold_water"}, "households": 1250})
    starts_at: datetime = datetime(2026, 12, 1, 9, 0, tzinfo=KYIV)
    ends_at: datetime | None = datetime(2026, 12, 1, 17, 0, tzinfo=KYIV)
    state: str = "active"
    updated_at: datetime = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    contact_phone: str | None = None
    district: str | None = None
    tanker_location: str | None = None
    streets: tuple[str, ...] = ()
    street_lines: tuple[str, ...] = ()
    points: tuple[tuple[str, float, float], ...] = ()


PLANNED = Ann("PW-2026-0412", revision=2)
OPEN_ENDED = Ann("PW-2026-0420", kind="emergency", service="sewage", ends_at=None, title_uk="Аварійне відключення")
CANCELLED = Ann("78431", revision=3, provider="teplotsentral", state="cancelled", title_uk="Скасовано: ...")
# Summer time: 09:00 Kyiv is 06:00 UTC.
SUMMER = Ann("PW-2026-0100", starts_at=datetime(2026, 7, 1, 9, 0, tzinfo=KYIV), ends_at=None)


def test_announcements_json_reads_back():
    data = json.loads(announcements_json([PLANNED, OPEN_ENDED]))
    assert data["count"] == 2
    first, second = data["announcements"]
    assert first["id"] == "vodokanal-PW-2026-0412" and first["revision"] == 2
    assert first["title"] == PLANNED.title_uk and first["body"] == PLANNED.body_uk
    assert first["starts_at"] == "2026-12-01T09:00:00+02:00"
    assert first["ends_at"] == "2026-12-01T17:00:00+02:00" and first["until_finished"] is False
    assert first["structured"] == PLANNED.structured
    assert second["ends_at"] is None and second["until_finished"] is True


def test_announcements_json_is_readable_utf8():
    text = announcements_json([PLANNED])
    assert "Кривбасводоканал" in text  # not \u-escaped
    text.encode("utf-8")


def parse_calendar(text: str) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(text)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def test_ical_reads_back_with_a_standard_parser():
    events = parse_calendar(announcements_ical([PLANNED, OPEN_ENDED, CANCELLED, SUMMER], now=NOW))
    assert set(events) == {
        "vodokanal-PW-2026-0412@1520.kr.gov.ua",
        "vodokanal-PW-2026-0420@1520.kr.gov.ua",
        "teplotsentral-78431@1520.kr.gov.ua",
        "vodokanal-PW-2026-0100@1520.kr.gov.ua",
    }
    planned = events["vodokanal-PW-2026-0412@1520.kr.gov.ua"]
    assert planned.decoded("DTSTART") == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert planned.decoded("DTEND") == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert planned.decoded("DTSTAMP") == NOW
    assert int(planned["SEQUENCE"]) == 2
    assert str(planned["STATUS"]) == "CONFIRMED"
    assert str(planned["SUMMARY"]) == PLANNED.title_uk
    assert str(planned["DESCRIPTION"]) == PLANNED.body_uk  # commas, semicolons, backslash and newlines survive
    assert "DTEND" not in events["vodokanal-PW-2026-0420@1520.kr.gov.ua"]
    assert str(events["teplotsentral-78431@1520.kr.gov.ua"]["STATUS"]) == "CANCELLED"
    assert int(events["teplotsentral-78431@1520.kr.gov.ua"]["SEQUENCE"]) == 3
    assert events["vodokanal-PW-2026-0100@1520.kr.gov.ua"].decoded("DTSTART") == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


def test_ical_lines_are_crlf_and_folded_at_75_octets():
    text = announcements_ical([PLANNED, replace(PLANNED, notice_id="long", title_uk="Ї" * 200)], now=NOW)
    assert text.endswith("END:VCALENDAR\r\n")
    raw = text.encode("utf-8")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    physical = raw.split(b"\r\n")[:-1]
    assert max(len(line) for line in physical) <= 75
    assert any(line.startswith(b" ") for line in physical)  # something was folded
    for line in physical:
        line.decode("utf-8")  # no character split across lines
    assert text.count("BEGIN:VEVENT") == 2


def test_empty_calendar_is_still_a_calendar():
    calendar = icalendar.Calendar.from_ical(announcements_ical([], now=NOW))
    assert str(calendar["VERSION"]) == "2.0" and not calendar.walk("VEVENT")


@dataclass
class Req:
    number: str
    status: RequestStatus
    classifier_code: str = "3.1"
    classifier_name_uk: str = "Немає холодної води в будинку"
    section_name_uk: str = "Послуги мешканцям будинків"
    executor_name_uk: str = "КП «Кривбасводоканал»"
    status_note: str | None = None
    description: str = "Немає води з ранку, телефонуйте 067 123 45 67 або +380(56)401-22-33"
    street: str = "вулиця Соборності"
    house: str = "14"
    registered_at: datetime = datetime(2026, 12, 1, 6, 5, tzinfo=UTC)
    updated_at: datetime = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    deadline_at: datetime | None = datetime(2026, 12, 2, 6, 5, tzinfo=UTC)
    lat: float | None = 47.9105
    lon: float | None = 33.3918


OPEN311_KEYS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "lat",
    "long",
    "extended_attributes",
}


def test_open311_request_shape():
    (row,) = json.loads(json.dumps(open311_requests([Req("1520-2026-000123", RequestStatus.IN_PROGRESS)])))
    assert set(row) == OPEN311_KEYS
    assert row["service_request_id"] == "1520-2026-000123"
    assert row["status"] == "open" and row["extended_attributes"] == {"status": "in_progress"}
    assert row["status_notes"] == "в роботі"
    assert row["service_code"] == "3.1" and row["agency_responsible"] == "КП «Кривбасводоканал»"
    assert row["requested_datetime"] == "2026-12-01T08:05:00+02:00"
    assert row["expected_datetime"] == "2026-12-02T08:05:00+02:00"
    assert row["service_notice"] == "Строк виконання — до 08:05 02.12.2026"
    assert row["address"] == "вул. Соборності, 14"
    assert (row["lat"], row["long"]) == (47.91, 33.392)  # rounded to a block (gateway.privacy)


def test_open311_never_exports_residents_phones():
    row = open311_requests([Req("1", RequestStatus.DONE, status_note="Передзвонили на 0671234567")])[0]
    text = json.dumps(row, ensure_ascii=False)
    for digits in ("123 45 67", "401-22-33", "0671234567"):
        assert digits not in text
    assert row["description"].count(PHONE_MASK) == 2
    assert row["status_notes"] == "виконано"  # an operator's note is never published: the status in words


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("067 123 45 67", PHONE_MASK),
        ("+38 (067) 123-45-67", PHONE_MASK),
        ("(056) 401 22 33", PHONE_MASK),
        ("+380(56)401-22-33", PHONE_MASK),
        ("тел.0563401223.", f"тел.{PHONE_MASK}."),
        ("вул. Соборності, 14, кв. 25", "вул. Соборності, 14, кв. 25"),
        ("заявка від 01.12.2026", "заявка від 01.12.2026"),
    ],
)
def test_mask_phones(text, masked):
    assert mask_phones(text) == masked


@pytest.mark.parametrize(
    ("status", "extended"),
    [
        (RequestStatus.REGISTERED, "open"),
        (RequestStatus.SENT, "action_scheduled"),
        (RequestStatus.IN_PROGRESS, "in_progress"),
        (RequestStatus.REWORK, "reopen"),
        (RequestStatus.DONE, "fixed"),
        (RequestStatus.CONFIRMED, "closed"),
        (RequestStatus.DUPLICATE, "duplicate"),
        (RequestStatus.NOT_COMPETENCE, "internal_referral"),
        (RequestStatus.FALSE_CALL, "no_further_action"),
        (RequestStatus.CONSULTATION, "no_further_action"),
        (RequestStatus.WITHDRAWN, "closed"),
    ],
)
def test_open311_status_mapping(status, extended):
    row = open311_requests([Req("1", status, deadline_at=None)])[0]
    assert row["status"] == ("closed" if status in CLOSED else "open")
    assert row["extended_attributes"]["status"] == extended
    assert row["expected_datetime"] is None and row["service_notice"] is None


def test_every_status_has_an_open311_status():
    assert set(OPEN311_STATUS) == set(RequestStatus)


def test_status_given_as_its_stored_string_is_accepted():
    row = open311_requests([Req("1", "sent_to_executor")])[0]  # type: ignore[arg-type]
    assert row["extended_attributes"]["status"] == "action_scheduled"


def test_open311_services_from_the_classifier():
    version = default_classifier().current
    services = open311_services(version)
    assert len(services) == len(version.items)
    by_code = {s["service_code"]: s for s in services}
    leak = by_code[version.by_key("heat-carrier-leak").code]
    assert leak["service_name"] == "витік теплоносія на тепломережі"
    assert leak["group"] == version.sections["3"]
    assert leak["type"] == "realtime" and leak["metadata"] is False
    assert all(set(s) >= {"service_code", "service_name", "group", "type", "metadata"} for s in services)
