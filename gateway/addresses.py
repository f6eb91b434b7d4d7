"""Addresses: street names and house numbers as residents, operators and utilities write them.

One normaliser serves announcements and requests alike, so "вул. Соборності, 14" in a request falls
inside "вулиця Соборності 12–28 (парні)" in an outage notice, and "просп. Карла Маркса" (the old
name) is the same street as "просп. Поштовий" (data/street_renames.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

from gateway.errors import ConfigError
from gateway.yamlfile import load_yaml

Parity = Literal["even", "odd"]

DATA_DIR = Path(__file__).parent / "data"
RENAMES_FILE = DATA_DIR / "street_renames.yaml"
STREETS_FILE = DATA_DIR / "streets.yaml"

# A range that ends here runs to the end of the street: "парна сторона" is HouseRange(1, SIDE_END, "even").
SIDE_END = 9999

_APOSTROPHES = re.compile(r"[’ʼ`´‘']")
_DASHES = re.compile(r"[‐‑‒–—―−]")
_SPACES = re.compile(r"\s+")
# Street-kind words and their display forms. Matched longest first so "провулок" wins over "пров".
_KINDS: tuple[tuple[str, str], ...] = (
    ("вулиця", "вул."),
    ("вул", "вул."),
    ("ул", "вул."),
    ("проспект", "просп."),
    ("просп", "просп."),
    ("пр-т", "просп."),
    ("пр", "просп."),  # in Kryvyi Rih "пр." is a prospect; lanes are "пров."
    ("провулок", "пров."),
    ("пров", "пров."),
    ("пер", "пров."),
    ("бульвар", "бульв."),
    ("бульв", "бульв."),
    ("б-р", "бульв."),
    ("площа", "пл."),
    ("пл", "пл."),
    ("мікрорайон", "м-н"),
    ("мкрн", "м-н"),
    ("мкр", "м-н"),
    ("м-н", "м-н"),
    ("шосе", "шосе"),
    ("майдан", "майдан"),
    ("квартал", "кв-л"),
    ("кв-л", "кв-л"),
)
_KIND_ALT = "|".join(re.escape(k) for k, _ in sorted(_KINDS, key=lambda kv: -len(kv[0])))
_KIND_RE = re.compile(r"^(?P<kind>" + _KIND_ALT + r")(?:\.\s*|\s+|$)", re.IGNORECASE)
_KIND_CANON = dict(_KINDS)
_TRAILING_KIND_RE = re.compile(r"\s+(?:вулиця|проспект|провулок|бульвар|площа|мікрорайон|шосе)$")
_HOUSE_RE = re.compile(r"^(?P<num>\d+)\s*(?:-?\s*(?P<letter>[^\W\d_])(?!\w))?(?:\s*/\s*(?P<block>\d+))?$")
_HOUSE_PREFIX_RE = re.compile(r"^(?:(?:буд(?:инки|инок)?\.?|б\.|№)\s*)+", re.IGNORECASE)
_BLOCK_RE = re.compile(r"\s*(?:корп(?:ус)?\.?|к\.)\s*(?=\d)", re.IGNORECASE)
# Latin letters typed for their Cyrillic look-alikes in house letters ("9a" with a Latin a).
_LATIN_LOOKALIKES = str.maketrans("abcehikmoptxy", "авсенікмортху")


def _clean(text: str) -> str:
    text = _APOSTROPHES.sub("'", text.strip())
    text = _DASHES.sub("-", text)
    return _SPACES.sub(" ", text)


def split_street(name: str) -> tuple[str | None, str]:
    """("вул.", "Соборності") from "вулиця Соборності"; the kind is None when none is written."""
    text = _clean(name)
    match = _KIND_RE.match(text)
    if not match or not text[match.end() :].strip():
        return None, text
    return _KIND_CANON[match.group("kind").lower()], text[match.end() :].strip()


def _raw_key(name: str) -> str:
    """The key before renames: kind dropped, case folded, hyphens as spaces, a trailing kind word dropped."""
    _, bare = split_street(name)
    text = _SPACES.sub(" ", bare.casefold().replace("-", " ")).strip()
    shorter = _TRAILING_KIND_RE.sub("", text)
    return shorter or text


@lru_cache(maxsize=65536)  # called for every request against every notice address
def street_key(name: str) -> str:
    """A comparison key: kind dropped, case folded, apostrophes unified, old names resolved to the current one
    ("вул. Соборності" == "СОБОРНОСТІ"; "просп. Карла Маркса" == "Поштовий")."""
    key = _raw_key(name)
    return _street_tables().renames.get(key, key)


def canonical_street(name: str) -> str:
    """The display form residents read: current name, short kind ("вулиця героїв ато" -> "вул. Героїв АТО")."""
    known = _street_tables().display.get(street_key(name))
    if known:
        return known
    kind, bare = split_street(name)
    if bare.isupper() or bare.islower():  # written in one case: capitalise each word
        bare = " ".join(w[:1].upper() + w[1:].lower() for w in bare.split(" "))
    bare = bare.replace("'", "’")  # the typographic apostrophe residents read
    return f"{kind} {bare}" if kind else bare


def is_known_street(name: str) -> bool:
    return street_key(name) in _street_tables().display


@lru_cache(maxsize=65536)
def house_key(house: str) -> str:
    """ "9 А", "9-а", "9а", "буд. 9a" -> "9а"; "12/1" and "12 корп. 1" -> "12/1"; anything else case-folded."""
    text = _HOUSE_PREFIX_RE.sub("", _clean(house).casefold()).strip()
    text = _BLOCK_RE.sub("/", text)
    match = _HOUSE_RE.match(text)
    if not match:
        return text
    key = match.group("num") + (match.group("letter") or "").translate(_LATIN_LOOKALIKES)
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
    """A street and the houses on it that a notice covers. ``note`` keeps entrances, risers or flats
    named next to the houses ("під. 2"): they narrow nothing here, a whole house counts as covered."""

    street: str
    houses: tuple[str, ...] = ()
    ranges: tuple[HouseRange, ...] = ()
    whole_street: bool = False
    note: str | None = None

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


# --- the street tables (renames and known display forms) -------------------------------------------------


@dataclass(frozen=True)
class _StreetTables:
    renames: dict[str, str]  # raw key of an old name or other spelling -> raw key of the current name
    display: dict[str, str]  # raw key of a current name -> its display form


@cache
def _street_tables() -> _StreetTables:
    return load_street_tables(RENAMES_FILE, STREETS_FILE)


def load_street_tables(renames_file: Path, streets_file: Path | None = None) -> _StreetTables:
    """Read the renames file (and the city's street list for display forms); refuse duplicates and cycles."""
    raw = load_yaml(renames_file) or {}
    direct: dict[str, str] = {}
    display: dict[str, str] = {}
    if streets_file is not None:
        for entry in load_yaml(streets_file) or []:
            display[_raw_key(entry["street"])] = entry["street"]
    pairs: list[tuple[str, str]] = []
    try:
        pairs += [(r["old"], r["new"]) for r in raw.get("renames", [])]
        pairs += [(s, a["name"]) for a in raw.get("aliases", []) for s in a["spellings"]]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{renames_file}: an entry lacks {exc}") from None
    for old, new in pairs:
        old_key, new_key = _raw_key(old), _raw_key(new)
        if old_key in direct:
            raise ConfigError(f"{renames_file}: {old!r} is renamed twice")
        if old_key == new_key:
            raise ConfigError(f"{renames_file}: {old!r} is renamed to itself")
        direct[old_key] = new_key
        display.setdefault(new_key, new)
    renames: dict[str, str] = {}
    for old_key in direct:
        seen, key = {old_key}, direct[old_key]
        while key in direct:  # renamed twice: follow to the newest name
            if key in seen:
                raise ConfigError(f"{renames_file}: renames of {old_key!r} go round in a circle")
            seen.add(key)
            key = direct[key]
        renames[old_key] = key
    for old_key in renames:
        display.pop(old_key, None)  # an old name is never displayed
    return _StreetTables(renames, display)


# --- parsing the free-text address lines utilities write -------------------------------------------------

# Entrances, risers and flats: kept as a note, never read as houses. "під. 2, 3" names two entrances.
_NOTE_RE = re.compile(
    r"(?<!\w)(?P<what>під'?їзд\w*|під\.|стояк\w*|кв\.|квартир\w*)\s*№?\s*"
    r"(?P<nums>\d+(?![\w/])(?:\s*(?:-|,|і|та|й)\s*\d+(?![\w/]))*)",
    re.IGNORECASE,
)
_WHOLE_RE = re.compile(
    r"(?<!\w)(?:(?:вс|ус)і\s+будинки|(?:вс|ус)я(?:\s+(?:вулиця|площа))?|у?весь(?:\s+(?:провулок|проспект|бульвар"
    r"|мікрорайон|квартал|майдан))?|(?:в|у)?се\s+шосе|повністю)(?!\w)(?!\s+(?:не)?парн)",
    re.IGNORECASE,
)
_PARITY_RE = re.compile(
    r"(?<!\w)(?:(?:вс|ус)я\s+)?(?P<p>непарн|парн)\w*(?:\s+(?:сторон\w*|бік|номер\w*|будинк\w*))?(?!\w)", re.IGNORECASE
)
_FROM_TO_RE = re.compile(r"(?<!\w)(?:з|від)\s+(\d+)\s+(?:по|до)\s+(\d+)(?!\w)", re.IGNORECASE)
_SPACED_DASH_RE = re.compile(r"(?<!\d)\s+-\s*|\s*-\s+(?!\d)")
_NEXT_STREET_RE = re.compile(r",(?=\s*(?:" + _KIND_ALT + r")(?:\.|\s))", re.IGNORECASE)
_ITEM_SPLIT_RE = re.compile(r",|(?<!\w)(?:і|та|й)(?!\w)", re.IGNORECASE)
_RANGE_RE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
_HOUSEISH_TOKEN_RE = re.compile(r"^\d[\d/-]*[^\W\d_]?[\d/-]*$")  # "12", "15а-19"; not "200-річчя"
_NOT_A_NAME_RE = re.compile(r"(?<!\w)(?:(?:не)?парн(?:і|а|ий|ої)(?!\w)|буд\.|будин\w*|б\.|№)|^\d+$", re.IGNORECASE)


def parse_address_line(line: str) -> list[StreetHouses]:
    """Read one free-text address line of a notice («вул. Соборності, 12–28 (парні); пров. Ковальський (весь)»).

    Raises ValueError saying what could not be read; the caller keeps such a line verbatim.
    """
    text = _clean(line)
    result: list[StreetHouses] = []
    for segment in text.split(";"):
        for part in _NEXT_STREET_RE.split(segment):
            part = part.strip().rstrip(" ,.").strip()
            if part:
                result.append(_parse_street_part(part))
    if not result:
        raise ValueError(f"address line {line!r} names no street")
    return result


def _parse_street_part(part: str) -> StreetHouses:
    notes: list[str] = []
    whole = False

    def take_note(match: re.Match[str]) -> str:
        nums = re.sub(r"\s*,\s*", ", ", re.sub(r"\s*-\s*", "-", match.group("nums")))
        notes.append(f"{match.group('what').lower()} {nums}")
        return ","

    def take_whole(_: re.Match[str]) -> str:
        nonlocal whole
        whole = True
        return ","

    text = _NOTE_RE.sub(take_note, part)
    text = _WHOLE_RE.sub(take_whole, text)
    text = _FROM_TO_RE.sub(r"\1-\2", text)
    text = re.sub(r"[():]", ",", text)
    text = _SPACED_DASH_RE.sub(",", text).strip(" ,")

    parsed: list[tuple[str, tuple[list[str], list[HouseRange]]]] = []
    errors: list[tuple[str, ValueError]] = []
    for cut in [m.end() for m in re.finditer(r"[\s,]+", text)]:
        street, rest = text[:cut].strip(" ,"), text[cut:]
        if "," in street or not _looks_like_street(street):
            continue
        try:
            parsed.append((street, _parse_houses(rest)))
        except ValueError as exc:
            errors.append((rest, exc))
    note = "; ".join(notes) or None
    if parsed:
        # Prefer a known street ("м-н Східний 1, 5" is Східний-1, house 5), else the longest house list.
        street, (houses, ranges) = next(((s, h) for s, h in parsed if is_known_street(s)), parsed[0])
        return StreetHouses(
            canonical_street(street), tuple(dict.fromkeys(houses)), tuple(ranges), whole or not (houses or ranges), note
        )
    houseish = any(_HOUSEISH_TOKEN_RE.match(token) for token in re.split(r"[\s,]+", text))
    if errors and ("," in text or houseish or not _looks_like_street(text)):
        _, exc = next(((r, e) for r, e in errors if re.match(r"\s*(?:буд|б\.|№|\d)", r, re.IGNORECASE)), errors[0])
        raise ValueError(f"{part!r}: {exc}") from None
    if not _looks_like_street(text):
        if not text or re.match(r"(?:буд|б\.|№|\d)", text, re.IGNORECASE):
            raise ValueError(f"{part!r}: no street name before the house numbers")
        raise ValueError(f"{part!r}: {text!r} is neither a street with a kind (вул., просп., ...) nor a known street")
    # A street with no house numbers: the whole street ("пров. Ковальський (весь)" or just the name).
    return StreetHouses(canonical_street(text), whole_street=True, note=note)


def _looks_like_street(text: str) -> bool:
    kind, bare = split_street(text)
    if not re.search(r"[^\W\d_]", bare) or _NOT_A_NAME_RE.search(bare):
        return False
    return kind is not None or is_known_street(text)


def _parse_houses(text: str) -> tuple[list[str], list[HouseRange]]:
    """Houses and ranges of one street: "12–28 (парні), 31, буд. 33 а"; parity binds to the range next to it."""
    houses: list[str] = []
    ranges: list[HouseRange] = []
    open_range: int | None = None  # index of a range just read whose parity may follow it
    pending: Parity | None = None  # a parity marker written before its range
    for raw in _ITEM_SPLIT_RE.split(text):
        item = raw.strip()
        if not item:
            continue
        parity: Parity | None = None
        marker = _PARITY_RE.search(item)
        if marker:
            parity = "odd" if marker.group("p").lower().startswith("не") else "even"
            item = (item[: marker.start()] + " " + item[marker.end() :]).strip()
        item = _HOUSE_PREFIX_RE.sub("", item).strip()
        if not item:
            if parity is None:
                raise ValueError(f"{raw.strip()!r} names no house number")
            if open_range is not None:
                ranges[open_range] = replace(ranges[open_range], parity=parity)
            elif pending is not None:
                raise ValueError(f"two parity markers in a row before {raw.strip()!r}")
            else:
                pending = parity
            open_range = None
            continue
        bounds = _RANGE_RE.match(item)
        if bounds:
            start, end = int(bounds.group(1)), int(bounds.group(2))
            if start > end:
                raise ValueError(f"range {raw.strip()!r} runs backwards")
            side = parity or pending
            pending = None
            ranges.append(HouseRange(start, end, side))
            open_range = len(ranges) - 1 if side is None else None
            continue
        if parity is not None:
            raise ValueError(f"{raw.strip()!r}: парні/непарні needs a range of houses, not one house")
        if not _HOUSE_RE.match(_BLOCK_RE.sub("/", item)):
            raise ValueError(f"cannot read {raw.strip()!r} as a house number or a range")
        houses.append(house_key(item))
        open_range = None
    if pending is not None:  # "вул. Соборності (парна сторона)": the whole side
        ranges.append(HouseRange(1, SIDE_END, pending))
    if not (houses or ranges):
        raise ValueError(f"no house numbers in {text.strip()!r}")
    return houses, ranges


# --- rendering back to Ukrainian text ---------------------------------------------------------------------

_WHOLE_WORDS = {
    "вул.": "вся вулиця",
    "просп.": "весь проспект",
    "пров.": "весь провулок",
    "бульв.": "весь бульвар",
    "пл.": "вся площа",
    "м-н": "весь мікрорайон",
    "кв-л": "весь квартал",
    "майдан": "весь майдан",
}
_PARITY_UK = {"even": "парні", "odd": "непарні"}
_SIDE_UK = {"even": "парна сторона", "odd": "непарна сторона"}


def group_by_street(items: Iterable[StreetHouses]) -> list[StreetHouses]:
    """One entry per street (old and new names together), in the order streets first appear."""
    merged: dict[str, StreetHouses] = {}
    for sh in items:
        key = street_key(sh.street)
        if key not in merged:
            merged[key] = replace(sh, street=canonical_street(sh.street))
            continue
        have = merged[key]
        notes = "; ".join(n for n in dict.fromkeys([have.note, sh.note]) if n) or None
        merged[key] = StreetHouses(
            have.street,
            tuple(dict.fromkeys(have.houses + sh.houses)),
            tuple(dict.fromkeys(have.ranges + sh.ranges)),
            have.whole_street or sh.whole_street,
            notes,
        )
    return list(merged.values())


def render_street_houses(sh: StreetHouses) -> str:
    """«вул. Соборності: 12–28 (парні), 31, 33а» — sorted, runs of three or more houses written as ranges."""
    street = canonical_street(sh.street)
    note = f" ({sh.note})" if sh.note else ""
    if sh.whole_street:
        kind, _ = split_street(street)
        return f"{street} ({_WHOLE_WORDS.get(kind or '', 'усі будинки')}){note}"
    parts: list[tuple[int, int, str]] = []  # (order, number, text): whole sides go last
    for r in sh.ranges:
        if r.end >= SIDE_END and r.start <= 1:
            parts.append((1, 0, _SIDE_UK[r.parity]) if r.parity else (1, 0, "усі будинки"))
        else:
            parity = f" ({_PARITY_UK[r.parity]})" if r.parity else ""
            parts.append((0, r.start, f"{r.start}–{r.end}{parity}"))
    keys = list(dict.fromkeys(house_key(h) for h in sh.houses))
    plain = sorted({int(k) for k in keys if k.isdigit()})
    parts += [(0, n, text) for n, text in _compact(plain)]
    parts += [(0, house_number(k) or 0, k) for k in keys if not k.isdigit()]
    body = ", ".join(text for _, _, text in sorted(parts, key=lambda p: (p[0], p[1], p[2])))
    return f"{street}: {body}{note}"


def render_addresses(items: Iterable[StreetHouses]) -> str:
    """Several streets, grouped: «вул. Соборності: 12–28 (парні); пров. Ковальський (весь провулок)»."""
    return "; ".join(render_street_houses(sh) for sh in group_by_street(items))


def _compact(numbers: list[int]) -> list[tuple[int, str]]:
    present, used, out = set(numbers), set(), []
    for n in numbers:
        if n in used:
            continue
        for step in (1, 2):
            run = [n]
            while run[-1] + step in present and run[-1] + step not in used:
                run.append(run[-1] + step)
            if len(run) >= 3:
                parity = "" if step == 1 else f" ({_PARITY_UK['even' if n % 2 == 0 else 'odd']})"
                out.append((n, f"{n}–{run[-1]}{parity}"))
                used.update(run)
                break
        else:
            out.append((n, str(n)))
            used.add(n)
    return out


def street_houses_dict(sh: StreetHouses) -> dict[str, Any]:
    """A JSON-ready form for the city site and chat bots; a range to the end of the street has "to": null."""
    return {
        "street": canonical_street(sh.street),
        "whole_street": sh.whole_street,
        "houses": list(sh.houses),
        "ranges": [
            {"from": r.start, "to": None if r.end >= SIDE_END else r.end, "parity": r.parity} for r in sh.ranges
        ],
        "note": sh.note,
    }
