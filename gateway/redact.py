"""Kept for imports written before the toolkit (gateway.sync): redaction lives in ``gateway.toolkit.redact``."""

from gateway.toolkit.redact import PHONE_RE, mask_phones, redact, scrub_contacts

__all__ = ["PHONE_RE", "mask_phones", "redact", "scrub_contacts"]
