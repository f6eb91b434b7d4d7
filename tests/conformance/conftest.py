"""Every conformance test also proves that each request the connector sent (and each reply the
simulator gave) validates against the utility's contract document."""

from __future__ import annotations

import pytest

from tests.conformance import helpers


@pytest.fixture(autouse=True)
def every_request_keeps_the_contract():
    helpers.STARTED.clear()
    yield
    violations = helpers.contract_violations()
    helpers.STARTED.clear()
    assert violations == [], f"requests or replies that break the contract document: {violations[:3]}"
