"""The change-feed cursor: the service has no sequence number, only time windows, so the cursor is a
time watermark plus the keys of the changes already returned that a later window could return again.

Encoded as compact JSON::

    {"v": 1, "watermark": "2026-10-25T01:05:00+00:00", "seen": ["240001|20|2026-10-25T03:58:12", ...]}

A key is ComplaintId|StatusCode|ChangedAt (the wall time exactly as the service wrote it): the
contract gives changes no id. A key is dropped once no future window can reach its wall time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from connectors.teplotsentral.localtime import require_aware

VERSION = 1


def change_key(complaint_id: str, status: str, wall: datetime) -> str:
    return f"{complaint_id}|{status}|{wall.isoformat()}"


def key_wall(key: str) -> datetime:
    return datetime.fromisoformat(key.rsplit("|", 1)[1])


@dataclass
class ChangeCursor:
    watermark: datetime  # aware UTC: the end of the last window asked
    seen: set[str] = field(default_factory=set)

    def encode(self) -> str:
        return json.dumps(
            {"v": VERSION, "watermark": self.watermark.isoformat(), "seen": sorted(self.seen)},
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def decode(cls, text: str) -> ChangeCursor:
        """Raises ValueError when the text is not a cursor this connector wrote."""
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("v") != VERSION:
                raise ValueError("unknown cursor version")
            watermark = require_aware(datetime.fromisoformat(raw["watermark"]), "watermark")
            seen = {str(k) for k in raw.get("seen") or ()}
            for key in seen:
                key_wall(key)
        except (KeyError, TypeError, IndexError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a teplotsentral cursor ({type(exc).__name__})") from None
        return cls(watermark, seen)

    def prune(self, floor: datetime) -> None:
        """Forget keys whose wall time is below ``floor``: no window from now on can return them."""
        self.seen = {key for key in self.seen if key_wall(key) >= floor}
