"""One pager for the feed shapes the utilities use.

- sequence: a change feed numbered 1, 2, 3... (``sequence_cursor``; the next cursor is the last seq);
- opaque cursor: the utility's own page token, wrapped with the connector's position in a cursor the
  gateway stores (``encode_cursor`` / ``decode_cursor``: versioned, prefixed base64 JSON);
- time window: [watermark - overlap, now] with the keys already returned (``WindowCursor``);
- page number: ``walk_pages`` follows ``next`` pages until there are none, refusing a page that
  does not move forward (a loop at the utility must not become a loop here); ``time_slices`` cuts a
  long range into the widths a utility accepts.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from gateway.errors import FatalError, RetriableError

P = TypeVar("P")
MAX_PAGES = 1000


def sequence_cursor(cursor: str | None, where: str) -> int:
    """The last seq handed out (0: from the beginning)."""
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise FatalError(f"{where}: cursor {cursor!r} is not a change feed seq")
    return int(cursor)


def encode_cursor(prefix: str, data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(prefix: str, text: str, where: str) -> dict[str, Any]:
    """The data of a cursor this connector wrote; anything else stops the step (FatalError)."""
    body = text[len(prefix):] if text.startswith(prefix) else None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) if body is not None else None
    except (binascii.Error, ValueError):
        data = None
    if not isinstance(data, dict):
        raise FatalError(f"{where}: the stored feed cursor is unusable (not a {prefix!r} cursor)")
    return data


SEEN_KEPT = 500  # keys remembered for the restart's dedupe; past that the engine's own check dedupes


def _mark(key: tuple[datetime, str]) -> str:
    return f"{key[1]}@{key[0].isoformat()}"


@dataclass(frozen=True)
class FeedPosition:
    """Where a connector is in a keyset feed served in fixed pages behind the utility's opaque cursor.

    ``page`` is the utility's cursor of the page being read (None: the first page for ``since``). A
    page may be handed to the engine in parts; the part already taken is remembered by its last order
    key (``after_at``, ``after_id``) rather than by a count, because an item updated meanwhile leaves
    the page and would shift every position after it. ``taken`` counts the items taken, for the rare
    item whose key cannot be read.

    ``watermark`` is the newest order time handed out and ``seen`` the keys handed out within the
    overlap before it. At the end of the feed, or when the utility refuses the page cursor (expired),
    ``restart`` asks again from ``watermark - overlap`` without a cursor: a run never starts from the
    beginning, a change committed late within the overlap is still found, and what was handed out
    already is skipped (``seen``; the engine also skips a change not newer than the one applied).
    """

    since: str
    page: str | None = None
    after_at: str | None = None
    after_id: str | None = None
    taken: int = 0
    watermark: str | None = None
    seen: tuple[str, ...] = ()

    def encode(self, prefix: str) -> str:
        return encode_cursor(prefix, asdict(self))

    @classmethod
    def decode(cls, prefix: str, text: str, where: str) -> FeedPosition:
        data = decode_cursor(prefix, text, where)
        try:
            position = cls(**{**data, "seen": tuple(data.get("seen") or ())})
            position.after_key()
            position.watermark_at()
        except (TypeError, ValueError):
            position = None
        if position is None or not isinstance(position.since, str) or not isinstance(position.taken, int):
            raise FatalError(f"{where}: the stored feed cursor is unusable (field types)")
        return position

    def after_key(self) -> tuple[datetime, str] | None:
        if self.after_at is None or self.after_id is None:
            return None
        return datetime.fromisoformat(self.after_at), self.after_id

    def watermark_at(self) -> datetime | None:
        return datetime.fromisoformat(self.watermark) if self.watermark else None

    def restart(self, overlap: timedelta) -> FeedPosition:
        """From the last watermark minus the overlap, without a page cursor (the same position when
        nothing was handed out yet: the feed is read from ``since`` again)."""
        mark = self.watermark_at()
        if mark is None:
            return FeedPosition(self.since)
        since = (mark - overlap).astimezone(UTC).isoformat().replace("+00:00", "Z")
        return FeedPosition(since, watermark=self.watermark, seen=self.seen)

    def next_part(self, items: list[Any], key_of: Callable[[Any], tuple[datetime, str] | None], limit: int,
                  server_next: str | None, server_more: bool,
                  overlap: timedelta | None = None) -> tuple[list[Any], FeedPosition, bool]:
        """What of a page is new beyond the part taken before (at most ``limit`` items), the position
        after it, and whether more is waiting. With ``overlap``, the end of the feed restarts from the
        watermark (see ``restart``) rather than keeping the last page cursor."""
        after, seen = self.after_key(), set(self.seen)
        fresh = []
        for index, item in enumerate(items):
            key = key_of(item)
            if key is not None and ((after is not None and key <= after) or _mark(key) in seen):
                continue
            if key is None and index < self.taken:
                continue
            fresh.append((index, item, key))
        batch = fresh[: max(1, limit)]
        moved = self._seen_through(batch, overlap) if overlap is not None else self
        if len(batch) < len(fresh):  # the page goes on: remember how far
            return [b[1] for b in batch], moved._past(batch), True
        if server_next and (server_more or overlap is None):
            return [b[1] for b in batch], replace(FeedPosition(self.since, server_next), watermark=moved.watermark,
                                                  seen=moved.seen), server_more
        if overlap is not None and moved.watermark is not None:  # the end for now: next time from the watermark
            return [b[1] for b in batch], moved.restart(overlap), False
        # the utility gave no cursor: stay on this page past what was taken
        return [b[1] for b in batch], moved._past(batch) if batch else moved, False

    def _seen_through(self, batch: list[tuple[int, Any, Any]], overlap: timedelta) -> FeedPosition:
        keys = [key for _, _, key in batch if key is not None]
        if not keys:
            return self
        previous = self.watermark_at()
        mark = max([k[0] for k in keys] + ([previous] if previous else []))
        floor = mark - overlap
        kept = [m for m in self.seen if datetime.fromisoformat(m.rsplit("@", 1)[1]) >= floor]
        kept += [_mark(k) for k in keys if k[0] >= floor]
        return replace(self, watermark=mark.isoformat(), seen=tuple(dict.fromkeys(kept))[-SEEN_KEPT:])

    def _past(self, batch: list[tuple[int, Any, Any]]) -> FeedPosition:
        keyed = [key for _, _, key in batch if key is not None]
        after_at, after_id = (keyed[-1][0].isoformat(), keyed[-1][1]) if keyed else (self.after_at, self.after_id)
        return replace(self, after_at=after_at, after_id=after_id, taken=batch[-1][0] + 1)


@dataclass
class WindowCursor:
    """A time watermark (aware UTC: the end of the last window asked) plus the keys of the items
    already returned that a later, overlapping window could return again."""

    watermark: datetime
    seen: set[str] = field(default_factory=set)

    def encode(self) -> str:
        return json.dumps({"v": 1, "watermark": self.watermark.isoformat(), "seen": sorted(self.seen)},
                          separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decode(cls, text: str, where: str) -> WindowCursor:
        try:
            raw = json.loads(text)
            watermark = datetime.fromisoformat(raw["watermark"]) if raw.get("v") == 1 else None
            if watermark is None or watermark.utcoffset() is None:
                raise ValueError("no aware watermark")
            return cls(watermark.astimezone(UTC), {str(k) for k in raw.get("seen") or ()})
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FatalError(f"{where}: cannot read the change cursor ({type(exc).__name__})") from None

    def window(self, now: datetime, overlap: timedelta, widest: timedelta) -> tuple[datetime, datetime]:
        """[watermark - overlap, min(now, watermark + widest)]: bounded while catching up."""
        start = self.watermark - overlap
        return start, max(start, min(now, self.watermark + widest))

    def first(self, key: str) -> bool:
        """True the first time a key is returned (it is remembered from then on), False after."""
        new = key not in self.seen
        self.seen.add(key)
        return new

    def prune(self, keep: Callable[[str], bool]) -> None:
        self.seen = {key for key in self.seen if keep(key)}


def walk_pages(fetch: Callable[[P], tuple[Any, P | None]], first: P, where: str) -> Iterator[Any]:
    """Each page's content from ``first`` on; ``fetch(page) -> (content, next page or None)``."""
    page: P | None = first
    for _ in range(MAX_PAGES):
        content, following = fetch(page)  # type: ignore[arg-type]
        yield content
        if following is None:
            return
        if not isinstance(following, int) or isinstance(following, bool) or following <= page:  # type: ignore[operator]
            raise RetriableError(f"{where} page {page}: next page {str(following)[:20]!r} does not move forward")
        page = following
    raise RetriableError(f"{where} page {page}: more than {MAX_PAGES} pages")


def time_slices(since: datetime, until: datetime, width: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """[since, until] in consecutive slices no wider than ``width`` (at least one slice)."""
    start = since
    while True:
        end = min(until, start + width)
        yield start, end
        if end >= until:
            return
        start = end
