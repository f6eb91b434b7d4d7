"""Kept for imports written before the toolkit: the parser lives in ``gateway.toolkit.http``."""

from gateway.toolkit.http import parse_retry_after

__all__ = ["parse_retry_after"]
