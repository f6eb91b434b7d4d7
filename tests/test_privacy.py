"""The public-data policy (gateway/privacy.py) case by case: every Ukrainian phone form, flats, e-mail,
names, operators' notes, coordinates; what must stay (request numbers, dates, house ranges, hotlines)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from gateway.privacy import (
    FLAT_MASK,
    NAME_MASK,
    PHONE_MASK,
    mask_phones,
    public_announcement_value,
    public_free_text,
    public_request,
    round_coordinate,
    scrub_text,
)
from gateway.statuses import RequestStatus


@pytest.mark.parametrize("phone", [
    "+380671234567", "+380 67 123 45 67", "+38 (067) 123-45-67", "380671234567", "+380(56)401-22-33",
    "067 123 45 67", "067-123-45-67", "(067) 123-45-67", "0671234567", "067.123.45.67", "(056) 401 22 33",
    "401-23-45", "401 23 45", "40-12-34", "4012345",
])
def test_every_phone_form_is_masked(phone):
    text = f"Немає води, дзвоніть {phone} після 18:00"
    assert mask_phones(text) == f"Немає води, дзвоніть {PHONE_MASK} після 18:00"


@pytest.mark.parametrize(("text", "masked"), [
    ("тел. 067…", f"тел. {PHONE_MASK}…"),
    ("тел.0563401223.", f"тел.{PHONE_MASK}."),
    ("моб.: 4-01-23", f"моб.: {PHONE_MASK}"),
    ("телефон 40 12", f"телефон {PHONE_MASK}"),
    ("вайбер 0671234567", f"вайбер {PHONE_MASK}"),
])
def test_anything_a_phone_keyword_introduces_is_masked_even_cut_short(text, masked):
    assert mask_phones(text) == masked


@pytest.mark.parametrize("text", [
    "заявка 1520-2026-000123 від 01.12.2026 о 09:00",
    "вул. Соборності, 12–28 (парні), 31, 33а",
    "з 12-28 будинків, під. 2",
    "2026-12-01T09:00:00+02:00",
    "Ø300 мм, 420 домогосподарств",
])
def test_public_numbers_stay(text):
    assert mask_phones(text) == text


def test_a_hotline_stays_and_every_other_phone_goes_in_a_utilitys_text():
    text = "Довідки: 0 800 500 152. Скарга з кв. 5, тел. 0671234567; під. 2, кв. 1-40"
    assert public_announcement_value({"body": [text]}, hotline="0 800 500 152") == {"body": [
        f"Довідки: 0 800 500 152. Скарга з {FLAT_MASK}, тел. {PHONE_MASK}; під. 2, кв. 1-40"]}


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("вул. Соборності, 14, кв. 25", f"вул. Соборності, 14, {FLAT_MASK}"),
    ("квартира 7, кв.8 і кв 9а", f"{FLAT_MASK}, {FLAT_MASK} і {FLAT_MASK}"),
    ("пишіть на olena.k@ukr.net", "пишіть на [пошту приховано]"),
])
def test_flats_and_mail_are_scrubbed(text, scrubbed):
    assert scrub_text(text) == scrubbed


def test_the_residents_own_name_phone_and_flat_go_in_every_form():
    text = "олені коваленко передзвоніть: 067 111 22 33 або 111-22-33"
    out = scrub_text(text, personal=["Олена Коваленко", "+380671112233"])
    assert out == f"{NAME_MASK} {NAME_MASK} передзвоніть: {PHONE_MASK} або {PHONE_MASK}"


@pytest.mark.parametrize(("text", "published"), [
    ("Немає холодної води в будинку, з ранку.", "Немає холодної води в будинку, з ранку."),
    ("Відсутнє опалення у квартирі, біля вул. Соборності.", "Відсутнє опалення у квартирі, біля вул. Соборності."),
    ("Прошу передати Петрові Іваненку", None),  # someone else's name: withheld
    ("Петро просить передзвонити", None),
    ("ОЛЕНА КОВАЛЕНКО, немає води", None),  # a name in capitals is not an abbreviation
    ("КП не приїхало", "КП не приїхало"),
    ("", None),
])
def test_free_text_is_published_only_when_nothing_in_it_can_name_a_person(text, published):
    assert public_free_text(text) == published


def test_coordinates_are_rounded_to_a_block():
    assert round_coordinate(47.910537) == 47.911 and round_coordinate(33.391822) == 33.392
    assert round_coordinate(None) is None


@dataclass
class Record:
    number: str = "1520-2026-000001"
    classifier_code: str = "3.1"
    classifier_name_uk: str = "немає холодної води в будинку"
    section_name_uk: str = "Житлово-комунальне господарство"
    executor_name_uk: str = "КП «Кривбасводоканал»"
    status: str = "in_progress"
    status_note: str = "Кривбасводоканал: job 240039, бригада Петренка"
    description: str = "Прошу передати Петрові: кв. 7, тел. 067 111 22 33"
    street: str = "вулиця леніна"
    house: str = "14, кв. 7"
    registered_at: datetime = datetime(2026, 12, 1, 6, 5, tzinfo=UTC)
    updated_at: datetime = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    deadline_at: datetime | None = None
    lat: float | None = 47.910537
    lon: float | None = 33.391822
    contact_name: str | None = "Олена Коваленко"
    contact_phone: str | None = "+380671112233"
    flat: str | None = "7"


def test_a_public_request_carries_no_note_no_flat_no_name_and_a_block_point():
    public = public_request(Record())
    assert public.status == RequestStatus.IN_PROGRESS and public.status_uk == "в роботі"
    assert public.description == "немає холодної води в будинку"  # withheld: the service name stands for it
    assert public.address == "вул. Соборності, 14"  # current street name, the flat typed into the house dropped
    assert (public.lat, public.lon) == (47.911, 33.392)
    text = repr(public)
    for secret in ("240039", "Петренк", "Олена", "Коваленко", "111 22 33", "кв. 7", "47.910537"):
        assert secret not in text
