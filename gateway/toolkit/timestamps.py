"""One reader of the values a utility's reply carries: instants, dates, identifiers and text.

Every reader raises ``Unreadable`` naming the field, so one bad item becomes a RejectedItem and the
rest of its batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from gateway.connector import RejectedItem

log = logging.getLogger("gateway.toolkit")
T = TypeVar("T")


class Unreadable(ValueError):
    """A field the connector cannot read; the message names the field."""


def holdable(moment: datetime, name: str) -> datetime:
    """The gateway keeps instants in UTC: one that cannot be converted (year 1 or 9999 at an extreme
    offset) is unreadable here rather than an OverflowError later, in the middle of a batch."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise Unreadable(f"{name}: out of range") from None
    return moment


def instant(item: dict[str, Any], name: str, *, required: bool = True) -> datetime | None:
    """An ISO 8601 date-time with a UTC offset (``Z`` too)."""
    value = item.get(name)
    if value is None and not required:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise Unreadable(f"{name}: missing or not an ISO 8601 date-time with an offset")
    return holdable(moment, name)


def lenient_instant(item: dict[str, Any], name: str) -> datetime | None:
    """An informational instant: None when absent or unreadable."""
    try:
        return instant(item, name, required=False)
    except Unreadable:
        return None


def day(item: dict[str, Any], name: str, *, required: bool = True) -> date | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Unreadable(f"{name}: missing or not a date YYYY-MM-DD")


def identifier(item: dict[str, Any], name: str) -> str:
    """A non-empty id, text or a whole number."""
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise Unreadable(f"{name}: missing or empty")
    return str(value).strip()


def positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def lenient_text(value: Any) -> str | None:
    """Informational text: None when absent, blank or not text."""
    return (value.strip() or None) if isinstance(value, str) else None


def as_text(value: Any, *, blank: bool = True) -> str | None:
    """Informational text as written (not stripped); None when not text, or blank and ``blank`` is False."""
    return value if isinstance(value, str) and (blank or value.strip()) else None


def is_text(value: Any) -> bool:
    """Non-empty text (whitespace counts: an id is what the utility wrote)."""
    return isinstance(value, str) and value != ""


def obj(item: Any, what: str = "item") -> dict[str, Any]:
    if not isinstance(item, dict):
        raise Unreadable(f"{what}: expected a JSON object, got {type(item).__name__}")
    return item


def one_of(item: dict[str, Any], name: str, allowed: frozenset[str] | tuple[str, ...]) -> str:
    value = item.get(name)
    if not isinstance(value, str) or value not in allowed:  # isinstance first: a list is unhashable
        raise Unreadable(f"{name}: {str(value)[:40]!r} is not one of {', '.join(sorted(allowed))}")
    return value


def read_each(items: list[Any], read: Callable[[Any], T], key: Callable[[int, Any], str], where: str,
              ) -> tuple[list[T], list[RejectedItem]]:
    """Every item read by ``read``; one that is Unreadable becomes a RejectedItem under ``key(index,
    item)`` (its id if it has one, else its position) and the rest of the batch goes on."""
    good: list[T] = []
    rejects: list[RejectedItem] = []
    for index, item in enumerate(items):
        try:
            good.append(read(item))
        except Unreadable as exc:
            name = key(index, item)
            log.warning("%s: item %s rejected: %s", where, name, exc)
            rejects.append(RejectedItem(key=name, error=str(exc), payload=item))
    return good, rejects


def id_or(item: Any, name: str, fallback: str, valid: Callable[[Any], bool] = lambda v: v not in (None, "")) -> str:
    """An item's ``name`` for a rejection when ``valid``, else the fallback (its position)."""
    value = item.get(name) if isinstance(item, dict) else None
    return str(value) if valid(value) else fallback
