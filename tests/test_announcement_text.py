"""Notices rendered as residents read them: the same wording for every utility, Kyiv times."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.addresses import parse_address_line
from gateway.announcement_text import format_period, render
from gateway.connector import PlannedWork

KYIV = ZoneInfo("Europe/Kyiv")
VODOKANAL = "КП «Кривбасводоканал»"


def addresses(line):
    return tuple(parse_address_line(line))


VODOKANAL_PLANNED = PlannedWork(
    notice_id="PW-2026-0412",
    revision=2,
    kind="planned",
    service="cold_water",
    starts_at=datetime(2026, 12, 1, 7, 0, tzinfo=UTC),  # 09:00 Kyiv (winter, UTC+2)
    ends_at=datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
    addresses=addresses("вул. Соборності, 12–28 (парні), 31, 33а; просп. Металургів, 5, 7, 9а"),
    reason="заміна засувки на водоводі Ø500 мм по вул. Соборності",
    households=1250,
    tanker_location="вул. Соборності, 20, біля школи №5",
    contact_phone="0800 500 123",
    announced_at=datetime(2026, 11, 16, 8, 0, tzinfo=UTC),
)

EMERGENCY = PlannedWork(
    notice_id="PW-2026-0420",
    revision=1,
    kind="emergency",
    service="sewage",
    starts_at=datetime(2026, 12, 2, 6, 40, tzinfo=KYIV),
    ends_at=None,
    addresses=addresses("вулиця Героїв АТО 15-19; пров. Ковальський (весь)"),
    reason="пошкодження каналізаційного колектора",
    contact_phone="1520",
)

HEATING = PlannedWork(
    notice_id="78431",
    revision=3,
    kind="planned",
    service="heating",
    # Across the switch to winter time on 25 October 2026: 09:00 EEST on the 24th, 09:00 EET on the 26th.
    starts_at=datetime(2026, 10, 24, 6, 0, tzinfo=UTC),
    ends_at=datetime(2026, 10, 26, 7, 0, tzinfo=UTC),
    addresses=addresses("м-н Сонячний, буд. 1–15"),
    unparsed_lines=("котельня №12 (вул. Тбіліська) — усі споживачі",),
    reason="гідравлічні випробування тепломереж",
)

WASTE = PlannedWork(
    notice_id="SC-77",
    revision=1,
    kind="planned",
    service="waste_collection",
    starts_at=datetime(2027, 1, 2, 0, 0, tzinfo=KYIV),
    ends_at=None,
    addresses=addresses("вул. Каткова; вул. Короленка, 1-40"),
    district="Тернівський",
    original_date=datetime(2027, 1, 1, 0, 0, tzinfo=KYIV),
    reason="святковий день",
    contact_phone="(056) 401-22-33",
)


def test_vodokanal_planned_notice():
    notice = render(VODOKANAL_PLANNED, VODOKANAL)
    assert notice.title == "Планове відключення холодного водопостачання — вул. Соборності, просп. Металургів"
    assert notice.body.splitlines() == [
        "КП «Кривбасводоканал» повідомляє: планове відключення холодного водопостачання.",
        "Не буде послуги: холодне водопостачання.",
        "Коли: з 09:00 01.12.2026 до 17:00 01.12.2026.",
        "Адреси:",
        "вул. Соборності: 12–28 (парні), 31, 33а",
        "просп. Металургів: 5, 7, 9а",
        "Причина: заміна засувки на водоводі Ø500 мм по вул. Соборності.",
        "Без послуги залишаться 1250 домогосподарств.",
        "Підвезення води: автоцистерна — вул. Соборності, 20, біля школи №5.",
        "Довідки за телефоном: 0800 500 123.",
    ]


def test_structured_is_json_ready_and_complete():
    data = render(VODOKANAL_PLANNED, VODOKANAL).structured
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["provider"] == "vodokanal"  # found from the executors list by the title
    assert data["notice_id"] == "PW-2026-0412" and data["revision"] == 2
    assert data["kind"] == "planned" and data["cancelled"] is False
    assert data["service"] == {"code": "cold_water", "name_uk": "холодне водопостачання"}
    assert data["starts_at"] == "2026-12-01T09:00:00+02:00"
    assert data["ends_at"] == "2026-12-01T17:00:00+02:00"
    assert data["until_finished"] is False
    assert data["addresses"][0] == {
        "street": "вул. Соборності",
        "whole_street": False,
        "houses": ["31", "33а"],
        "ranges": [{"from": 12, "to": 28, "parity": "even"}],
        "note": None,
    }
    assert data["households"] == 1250 and data["contact_phone"] == "0800 500 123"
    assert data["tanker_location"] == "вул. Соборності, 20, біля школи №5"
    assert data["announced_at"] == "2026-11-16T10:00:00+02:00"
    assert render(VODOKANAL_PLANNED, "Інша назва", provider="vodokanal").structured["provider"] == "vodokanal"


def test_emergency_without_end():
    notice = render(EMERGENCY, VODOKANAL)
    assert notice.title == "Аварійне відключення водовідведення — вул. Героїв АТО, пров. Ковальський"
    assert "Коли: з 06:40 02.12.2026 до завершення робіт." in notice.body
    assert "вул. Героїв АТО: 15–19" in notice.body
    assert "пров. Ковальський (весь провулок)" in notice.body
    assert "Причина: пошкодження каналізаційного колектора." in notice.body
    assert "домогосподар" not in notice.body and "автоцистерна" not in notice.body
    assert notice.structured["ends_at"] is None and notice.structured["until_finished"] is True


def test_heating_notice_with_unparsed_lines_across_dst():
    notice = render(HEATING, "АТ «Криворізька теплоцентраль»")
    assert notice.title == "Планове відключення опалення — м-н Сонячний та інші адреси"
    lines = notice.body.splitlines()
    assert "Коли: з 09:00 24.10.2026 до 09:00 26.10.2026." in lines
    assert lines[lines.index("Адреси:") + 1 :][:2] == [
        "м-н Сонячний: 1–15",
        "котельня №12 (вул. Тбіліська) — усі споживачі",
    ]
    assert notice.structured["starts_at"] == "2026-10-24T09:00:00+03:00"
    assert notice.structured["ends_at"] == "2026-10-26T09:00:00+02:00"
    assert notice.structured["unparsed_addresses"] == ["котельня №12 (вул. Тбіліська) — усі споживачі"]
    assert notice.structured["provider"] == "teplotsentral"


def test_waste_schedule_change():
    notice = render(WASTE, "ТОВ «Екоспецтранс»")
    assert notice.title == "Зміна графіка вивезення побутових відходів — Тернівський район"
    assert "Район: Тернівський." in notice.body
    assert "Вивезення перенесено з 01.01.2027 на 02.01.2027." in notice.body
    assert "вул. Каткова (вся вулиця)" in notice.body and "вул. Короленка: 1–40" in notice.body
    assert "Довідки за телефоном: (056) 401-22-33." in notice.body
    assert "Коли:" not in notice.body
    assert notice.structured["original_date"] == "2027-01-01"
    assert notice.structured["district"] == "Тернівський"
    assert notice.structured["service"]["name_uk"] == "вивезення побутових відходів"


@pytest.mark.parametrize(
    ("work", "title", "first_line"),
    [
        (
            VODOKANAL_PLANNED,
            "Скасовано: планове відключення холодного водопостачання — вул. Соборності, просп. Металургів",
            "Скасовано: планове відключення холодного водопостачання з 09:00 01.12.2026 до 17:00 01.12.2026. "
            "Послуга надаватиметься як звичайно.",
        ),
        (
            WASTE,
            "Скасовано: зміна графіка вивезення побутових відходів — Тернівський район",
            "Скасовано: зміна графіка вивезення побутових відходів на 02.01.2027. "
            "Вивезення відбудеться за звичайним графіком.",
        ),
    ],
)
def test_cancelled_notice_is_short(work, title, first_line):
    notice = render(replace(work, cancelled=True), VODOKANAL)
    assert notice.title == title
    assert notice.body.splitlines()[0] == first_line
    assert "Причина" not in notice.body
    assert notice.structured["cancelled"] is True


def test_many_streets_are_counted_in_the_title():
    work = replace(
        EMERGENCY, addresses=addresses("вул. Каткова; вул. Короленка; вул. Тернівська; вул. Лермонтова; вул. Ватутіна")
    )
    assert render(work, VODOKANAL).title.endswith("вул. Каткова, вул. Короленка, вул. Тернівська та ще 2 вулиці")
    work = replace(work, addresses=(), unparsed_lines=("котельня №12",), district=None)
    assert render(work, VODOKANAL).title.endswith("— адреси в оголошенні")


@pytest.mark.parametrize(
    ("starts", "ends", "text"),
    [
        (datetime(2026, 3, 29, 6, 0, tzinfo=UTC), None, "з 09:00 29.03.2026 до завершення робіт"),  # summer time
        (datetime(2026, 3, 28, 6, 0, tzinfo=UTC), None, "з 08:00 28.03.2026 до завершення робіт"),  # winter time
        (datetime(2026, 12, 31, 22, 30), None, "з 00:30 01.01.2027 до завершення робіт"),  # naive = UTC
        (
            datetime(2026, 7, 1, 9, 0, tzinfo=KYIV),
            datetime(2026, 7, 2, 18, 0, tzinfo=KYIV),
            "з 09:00 01.07.2026 до 18:00 02.07.2026",
        ),
    ],
)
def test_format_period(starts, ends, text):
    assert format_period(starts, ends) == text
