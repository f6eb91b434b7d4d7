"""Addresses: street names and house numbers as residents, operators and utilities write them.

One normaliser serves announcements and requests alike, so "вул. Соборності, 14" in a request falls
inside "вулиця Соборності 12–28 (парні)" in an outage notice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Parity = Literal["even", "odd"]

_APOSTROPHES = re.compile(r"[’ʼ`´‘']")
_SPACES = re.compile(r"\s+")
# Street-kind words, longest first so "провулок" wins over "пров".
_KINDS: tuple[tuple[str, str], ...] = (
    ("вулиця", "вул."),
    ("вул", "вул."),
    ("проспект", "просп."),
    ("просп", "просп."),
    ("пр-т", "просп."),
    ("провулок", "пров."),
    ("пров", "пров."),
    ("бульвар", "бульв."),
    ("бульв", "бульв."),
    ("площа", "пл."),
    ("пл", "пл."),
    ("мікрорайон", "м-н"),
    ("мкр", "м-н"),
    ("м-н", "м-н"),
    ("шосе", "шосе"),
    ("майдан", "майдан"),
    ("квартал", "кв-л"),
)
_KIND_RE = re.compile(
    r"^(?P<kind>" + "|".join(re.escape(k) for k, _ in _KINDS) + r")\.?(?=\s|$)\s*", re.IGNORECASE
)
_KIND_CANON = dict(_KINDS)
_HOUSE_RE = re.compile(r"^(?P<num>\d+)\s*(?:-?\s*(?P<letter>[а-яіїєґa-z]))?(?:\s*/\s*(?P<block>\d+))?$")


def _clean(text: str) -> str:
    text = _APOSTROPHES.sub("'", text.strip())
    return _SPACES.sub(" ", text)


def split_street(name: str) -> tuple[str | None, str]:
    """("вул.", "Соборності") from "вулиця Соборності"; the kind is None when none is written."""
    text = _clean(name)
    match = _KIND_RE.match(text)
    if not match:
        return None, text
    return _KIND_CANON[match.group("kind").lower()], text[match.end() :].strip()


def street_key(name: str) -> str:
    """A comparison key: kind dropped, case folded, apostrophes unified ("вул. Соборності" == "СОБОРНОСТІ")."""
    _, bare = split_street(name)
    return bare.casefold()


def house_key(house: str) -> str:
    """"9 А", "9-а", "9а" -> "9а"; "12/1" stays "12/1"; anything else is case-folded verbatim."""
    text = _clean(house).casefold().replace("буд.", "").strip()
    match = _HOUSE_RE.match(text)
    if not match:
        return text
    key = match.group("num") + (match.group("letter") or "")
    if match.group("block"):
        key += "/" + match.group("block")
    return key


def house_number(house: str) -> int | None:
    match = re.match(r"\d+", house_key(house))
    return int(match.group()) if match else None


@dataclass(frozen=True)
class HouseRange:
    start: int
    end: int
    parity: Parity | None = None

    def contains(self, number: int) -> bool:
        if not self.start <= number <= self.end:
            return False
        if self.parity == "even":
            return number % 2 == 0
        if self.parity == "odd":
            return number % 2 == 1
        return True


@dataclass(frozen=True)
class StreetHouses:
    """A street and the houses on it that a notice covers."""

    street: str
    houses: tuple[str, ...] = ()
    ranges: tuple[HouseRange, ...] = ()
    whole_street: bool = False

    def covers(self, street: str, house: str) -> bool:
        if street_key(street) != street_key(self.street):
            return False
        if self.whole_street:
            return True
        key = house_key(house)
        if key in {house_key(h) for h in self.houses}:
            return True
        number = house_number(house)
        # A range covers "14а" as well as "14": the letter is a building of the same number.
        return number is not None and any(r.contains(number) for r in self.ranges)
