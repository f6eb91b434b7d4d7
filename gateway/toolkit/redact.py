"""One redaction module: secrets, tokens, passwords, phone numbers and e-mail addresses out of text.

Used for everything people or other systems read (logs, exception messages, dead letters) and, at the
boundary, for free text sent to a utility whose mapping does not send the resident's phone
(``scrub_contacts``): ``send_fields`` then bounds what the utility learns, whatever the resident typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PHONE_MASK = "[phone]"
EMAIL_MASK = "[e-mail]"
SECRET_MASK = "***"

_SEP = r"[\s().\-]*"
# Ukrainian numbers as people type them: +380 67 123 45 67, 380671234567, 067-123-45-67, (056) 401 22 33,
# 0671234567, 8 067 123 45 67 (the old trunk prefix), and the city's seven-digit short form 401-23-45 /
# 401 23 45 (only with separators, so a plain seven-digit number such as an order id stays).
# Request numbers (1520-2026-000005) and ISO dates do not match: a full number starts its run with 0.
PHONE_RE = re.compile(
    rf"(?<![\w+])(?:\+{_SEP})?(?:3{_SEP}8{_SEP}|8{_SEP})?(?:\({_SEP})?0{_SEP}[1-9](?:{_SEP}\d){{8}}(?!\d)"
    r"|(?<![\w\-.:/])\d{3}[\s\-]\d{2}[\s\-]\d{2}(?![\w\-])"
)
EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
# "Bearer abc", "token=abc", "password: abc", "api_key=abc", "client_secret=abc" in free text
_CREDENTIAL_RE = re.compile(
    r"(?i)\b(bearer\s+|(?:access_token|refresh_token|token|api[_-]?key|x-api-key|password|passwd|"
    r"client_secret|secret)\s*[=:]\s*)[\"']?[^\s\"',;&]+"
)


def mask_phones(text: str, mask: str = PHONE_MASK) -> str:
    return PHONE_RE.sub(mask, text)


def scrub_contacts(text: str) -> str:
    """Free text without phone numbers or e-mail addresses (for a utility not sent the resident's phone)."""
    return mask_phones(EMAIL_RE.sub(EMAIL_MASK, text))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Text safe for a log or an exception: the given secrets, anything that looks like a credential,
    e-mail addresses and phone numbers masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, SECRET_MASK)
    text = _CREDENTIAL_RE.sub(lambda m: m.group(1) + SECRET_MASK, text)
    return scrub_contacts(text)


def outbound_text(text: str, *, phone_sent: bool) -> str:
    """Free text as a utility may receive it: unchanged when the resident's phone goes with it anyway,
    else scrubbed of phones and e-mail addresses."""
    return text if phone_sent else scrub_contacts(text)


def normalize_phone(phone: str | None) -> str | None:
    """+380XXXXXXXXX, or None when the number cannot be read as Ukrainian."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 12 and digits.startswith("380"):
        return "+" + digits
    return "+38" + digits if len(digits) == 10 and digits.startswith("0") else None
