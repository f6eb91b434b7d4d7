"""Residents' phone numbers out of anything people or other systems read (logs, dead letters, exports)."""

from __future__ import annotations

import re

# Ukrainian phone numbers as people type them: +380 67 123 45 67, 067-123-45-67, (056) 401 22 33, 0671234567.
# Request numbers (1520-2026-000005) and ISO dates do not match: a phone starts its own digit run with 0.
PHONE_RE = re.compile(r"(?<!\d)(?:\+\s*)?(?:3\s*8\s*)?(?:\(\s*)?0(?:[\s().-]*\d){9}(?!\d)")


def mask_phones(text: str, mask: str = "[phone]") -> str:
    return PHONE_RE.sub(mask, text)
