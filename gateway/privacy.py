"""The public-data policy, in one place: what a record published on the city site, in a feed, an export
or the operator lookup may carry.

A public request carries its number, the classifier item, the executor, its status in words, the
street and house, block-level coordinates and its times. It never carries the resident's name or
phone, the flat, an operator's note or an internal job id. The resident's own words are published
only when, after scrubbing, nothing in them can still name a person; otherwise they are withheld.
Announcements are the utilities' own texts: every phone in them is masked except the utility's
published hotline.

Every public surface (gateway.public, gateway.exports) builds its records with the functions below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from gateway.addresses import canonical_street
from gateway.statuses import CLOSED, STATUS_NAMES_UK, RequestStatus

PHONE_MASK = "[телефон приховано]"
FLAT_MASK = "[квартиру приховано]"
EMAIL_MASK = "[пошту приховано]"
NAME_MASK = "[ім'я приховано]"
# Three decimals of a degree: about 110 m north-south and 75 m east-west in Kryvyi Rih, one block.
COORDINATE_DECIMALS = 3

# --- phones in every form residents and operators write them --------------------------------------------
# Full numbers: +380 67 123 45 67, +38 (067) 123-45-67, 380671234567, 067 123 45 67, (056) 401 22 33, 0671234567.
_FULL_PHONE = r"(?:\+\s*)?(?:3\s*8\s*)?(?:\(\s*)?0(?:[\s().-]*\d){9}"
# City numbers without the area code: 401-23-45, 401 23 45, 40-12-34, 4012345.
_LOCAL_PHONE = r"\d{2,3}[\s-]\d{2}[\s-]\d{2}|\d{7}"
_PHONE_RE = re.compile(rf"(?<![\w.:/-])(?:{_FULL_PHONE}|{_LOCAL_PHONE})(?![\w/])", re.IGNORECASE)
# Any digits a phone keyword introduces, even cut short: «тел. 067…», «моб.: 4-01-23», «телефон 40 12».
_KEYWORD_PHONE_RE = re.compile(
    r"(?P<keyword>(?<!\w)(?:телефон\w*|тел|моб(?:ільний)?|viber|вайбер)\.?\s*[:.]?\s*)(?P<number>\+?\d(?:[\d\s().-]*\d)?)",
    re.IGNORECASE,
)
# The last net: any run of nine or more digits, separators allowed (never a date: dots are not separators).
_LONG_DIGITS_RE = re.compile(r"(?<![\w.:-])\+?\d(?:[\s()-]*\d){8,}(?![\w.:])")
# Public numbers that look like phones and are not: request numbers 1520-2026-000123.
_REQUEST_NUMBER_RE = re.compile(r"(?<!\d)1520-\d{4}-\d{6}(?!\d)")
_FLAT_RE = re.compile(r"(?<!\w)(?:кв(?:артир[аиіуою]\w*)?|apt)\.?\s*№?\s*\d+(?:-?[^\W\d_])?(?!\w)", re.IGNORECASE)
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_WORD_RE = re.compile(r"[^\W\d_][\w'’ʼ-]*")
# Words a resident's description may start with or use capitalised without naming anyone.
_COMMON_WORDS = (
    "прошу просимо немає нема відсутнє відсутня відсутній відсутні не у в на з із зі після біля вже знову третій"
    " третю другий другу повторно телефонуйте дзвоніть терміново дуже ситуація вода води світло опалення"
    " сміття контейнер контейнери тече протікає яма ями біля коло кожного кожен весь вся все усі всі вчора"
    " сьогодні зранку ранку ввечері вночі дитячий дитячого майданчик підʼїзд під'їзд будинок будинку двір"
    " дворі дах даху ліфт ліфта труба труби каналізація каналізації запах холодна холодної гаряча гарячої"
    " низький слабкий тиск тиску заміна ремонт ремонту аварія аварії пориву порив зверталися звертаюсь"
    " звертаємось мешканці мешканців жителі жителів кп ат тов кривий кривого рогу ріг україна"
    " а але і й та що де коли чому як"
)
_COMMON_CAPITALISED = frozenset(_COMMON_WORDS.split())


def mask_phones(text: str, *, keep: Iterable[str] = ()) -> str:
    """Every Ukrainian phone form masked; the numbers in ``keep`` (a utility's hotline) stay as written."""
    kept = {_digits(k) for k in keep if k and len(_digits(k)) >= 3}
    protected: list[str] = []

    def protect(match: re.Match[str]) -> str:
        protected.append(match.group())
        return f"\x00{len(protected) - 1}\x00"

    def mask_number(found: str) -> str:
        digits = _digits(found)
        if any(digits == k or (len(k) >= 9 and digits.endswith(k[-9:])) for k in kept):
            return found
        return PHONE_MASK

    def mask(match: re.Match[str]) -> str:
        return mask_number(match.group())

    text = _REQUEST_NUMBER_RE.sub(protect, text)
    text = _KEYWORD_PHONE_RE.sub(lambda m: m.group("keyword") + mask_number(m.group("number")), text)
    text = _PHONE_RE.sub(mask, text)
    text = _LONG_DIGITS_RE.sub(mask, text)
    return re.sub(r"\x00(\d+)\x00", lambda m: protected[int(m.group(1))], text)


def scrub_text(text: str, *, personal: Iterable[str] = (), keep_phones: Iterable[str] = ()) -> str:
    """Phones, flats, e-mail addresses and the given personal values (a resident's name, phone, flat) out."""
    for value in personal:
        text = _remove_value(text, value)
    text = _EMAIL_RE.sub(EMAIL_MASK, text)
    text = mask_phones(text, keep=keep_phones)
    return _FLAT_RE.sub(FLAT_MASK, text)


def public_free_text(text: str | None, *, personal: Iterable[str] = ()) -> str | None:
    """A resident's own words as they may be published: scrubbed, or None (withheld) when a word in them
    could still be a person's name (a capitalised word that is neither a common word nor a street)."""
    if not text or not text.strip():
        return None
    scrubbed = scrub_text(text, personal=personal).strip()
    for word in _WORD_RE.findall(scrubbed):
        if word[:1].isupper() and not _is_public_word(word):
            return None
    return scrubbed


def round_coordinate(value: float | None) -> float | None:
    """A coordinate rounded to a block, so a point shows the block, never the door."""
    return None if value is None else round(float(value), COORDINATE_DECIMALS)


# --- records -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicRequest:
    """All a published request carries. Built only by ``public_request``."""

    number: str
    service_code: str
    service_name_uk: str
    group_uk: str
    agency_uk: str
    status: RequestStatus
    status_uk: str
    closed: bool
    description: str
    address: str
    registered_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    lat: float | None
    lon: float | None


def public_request(record: Any) -> PublicRequest:
    """The public face of a request record (gateway.exports.RequestView, or any object with its fields).

    The status note is an operator's or a sync's note ("Тестова служба: job 240039"): never published,
    the status is said in words instead. The description is the resident's: scrubbed or withheld, in
    which case the service name stands for it."""
    status = RequestStatus(record.status)
    personal = [getattr(record, name, None) for name in ("contact_name", "contact_phone", "flat")]
    description = public_free_text(record.description, personal=[p for p in personal if p])
    street = canonical_street(record.street)
    return PublicRequest(
        number=record.number,
        service_code=record.classifier_code,
        service_name_uk=record.classifier_name_uk,
        group_uk=record.section_name_uk,
        agency_uk=record.executor_name_uk,
        status=status,
        status_uk=STATUS_NAMES_UK[status],
        closed=status in CLOSED,
        description=description or record.classifier_name_uk,
        address=f"{street}, {house_without_flat(record.house)}" if record.house else street,
        registered_at=record.registered_at,
        updated_at=record.updated_at,
        deadline_at=record.deadline_at,
        lat=round_coordinate(record.lat),
        lon=round_coordinate(record.lon),
    )


def public_announcement_value(value: Any, *, hotline: str | None) -> Any:
    """An announcement's text or structured data with every phone but the utility's hotline masked.

    The utility writes these texts for residents; a resident's number pasted into a reason or an
    address line («скарга з кв. 5, тел. 067…») is still masked, flats too."""
    keep = [hotline] if hotline else []
    if isinstance(value, str):
        return mask_phones(_FLAT_IN_PROSE_RE.sub(FLAT_MASK, value), keep=keep)
    if isinstance(value, Mapping):
        return {k: public_announcement_value(v, hotline=hotline) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public_announcement_value(v, hotline=hotline) for v in value]
    return value


# In a notice "кв. 1–40" is the part of a building the works cover, not a resident: only one flat named on
# its own («скарга з кв. 5») is personal.
_FLAT_IN_PROSE_RE = re.compile(r"(?<!\w)кв(?:артир\w*)?\.?\s*№?\s*\d+(?!\d|\s*[–-]\s*\d|\s*,\s*\d)", re.IGNORECASE)


# --- helpers ---------------------------------------------------------------------------------------------


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def house_without_flat(house: str) -> str:
    """The house as written, with any flat a person typed into it dropped ("14, кв. 5" -> "14")."""
    return _FLAT_RE.sub("", house).strip(" ,;") or house.split(",")[0].strip()


def _remove_value(text: str, value: str) -> str:
    value = value.strip()
    if not value:
        return text
    digits = _digits(value)
    if len(digits) >= 7:  # a phone: its last seven digits in any grouping
        tail = r"[\s().-]*".join(digits[-7:])
        return re.sub(rf"(?<!\d)(?:\+?\(?\d[\d\s().-]*)?{tail}(?!\d)", PHONE_MASK, text)
    if digits == value:  # a flat number given as a bare number: only next to a flat word (handled by _FLAT_RE)
        return text
    for part in _WORD_RE.findall(value):
        if len(part) < 3:
            continue
        stem = part[:-2] if len(part) > 5 else part[:-1] if len(part) > 3 else part  # declined forms too
        text = re.sub(rf"(?<!\w){re.escape(stem)}\w*", NAME_MASK, text, flags=re.IGNORECASE)
    return text


def _is_public_word(word: str) -> bool:
    if word.isupper():
        return len(word) <= 4  # abbreviations: КП, АТ, ОСББ; a name written in capitals is not one
    return word.casefold() in _COMMON_CAPITALISED or word.casefold() in _public_vocabulary()


@cache
def _public_vocabulary() -> frozenset[str]:
    """Capitalised words that name streets, districts, the classifier's items and the executors."""
    from gateway.classifier import DATA_DIR, default_classifier
    from gateway.yamlfile import load_yaml

    words: set[str] = set()
    texts: list[str] = [item.name_uk for item in default_classifier().current.items]
    texts += [e["name_uk"] for e in load_yaml(DATA_DIR / "executors.yaml") or []]
    for entry in load_yaml(DATA_DIR / "streets.yaml") or []:
        texts += [entry["street"], entry["district"]]
    renames = load_yaml(DATA_DIR / "street_renames.yaml") or {}
    texts += [r["new"] for r in renames.get("renames", [])] + [r["old"] for r in renames.get("renames", [])]
    for text in texts:
        words.update(w.casefold() for w in _WORD_RE.findall(text))
    return frozenset(words)
