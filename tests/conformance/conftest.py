"""Every conformance test also proves that each request the connector sent (and each reply the
simulator gave) validates against the utility's contract document."""

from __future__ import annotations

import pytest

from tests.conformance import helpers


def pytest_configure(config):
    config.addinivalue_line("markers", "stream(name): the test exercises that optional stream; a connector "
                                       "whose manifest does not declare it is skipped, not called")


@pytest.fixture(autouse=True)
def only_declared_streams(request):
    """A test marked ``stream("planned_works")`` runs only for connectors that declare the stream."""
    marker = request.node.get_closest_marker("stream")
    callspec = getattr(request.node, "callspec", None)
    name = callspec.params.get("name") if callspec else None
    if marker and name and marker.args[0] not in helpers.REGISTRY[name].streams:
        pytest.skip(f"{name} declares no {marker.args[0]} stream")


@pytest.fixture(autouse=True)
def every_request_keeps_the_contract():
    helpers.STARTED.clear()
    yield
    violations = helpers.contract_violations()
    helpers.STARTED.clear()
    assert violations == [], f"requests or replies that break the contract document: {violations[:3]}"
