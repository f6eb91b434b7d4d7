"""The simulators are independent witnesses of the utilities' contracts, and the connectors keep them.

- No simulator imports a connector or the gateway's parsing and normalising code (AST scan): only the
  Connection type its state API hands out (``gateway.connections``).
- Every request each connector sends validates against the utility's contract document: the REST ones
  checked on the client side with openapi-core's requests integration (what left the connector, not
  what a server made of it), and by the simulators themselves (OpenAPI, and lxml against the XSD).
"""

from __future__ import annotations

import ast
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from connectors.ecospectrans.connector import EcospectransConnector
from connectors.vodokanal.connector import VodokanalConnector
from gateway.connector import JobDraft, JobUpdate, Timeouts
from gateway.errors import PermanentError
from gateway.registry import load_registry
from gateway.sync.context import load_manifest_mapping
from simulators.ecospectrans import EcospectransSimulator
from simulators.vodokanal import VodokanalSimulator

ROOT = Path(__file__).resolve().parents[2]
# Every registered utility with a simulator, by the kind of contract document its simulator names: an
# OpenAPI document (REST) or a folder with the WSDL and its XSD (SOAP). A new utility is checked here
# with no change to this file.
WITNESSED = {name: m for name, m in load_registry().items() if m.simulator}
REST = sorted(n for n, m in WITNESSED.items() if m.simulator_class().contract_document.endswith(".openapi.yaml"))
SOAP = sorted(n for n, m in WITNESSED.items() if m.simulator_class().contract_document.endswith("/"))
# the Connection type of the state API, and the manifests the stand launcher (__main__) reads: nothing that parses
ALLOWED_FROM_GATEWAY = {"gateway.connections", "gateway.registry"}
TIMEOUTS = Timeouts(connect=2, read=5)


def forbidden_imports(source: str) -> list[str]:
    """Modules a simulator's source imports that would make it a copy of the client, not a witness."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base] + [f"{base}.{a.name}" for a in node.names] if node.level == 0 else []
        for name in names:
            top = name.split(".")[0]
            if top == "connectors" or (top == "gateway" and name != "gateway" and
                                       not any(name.startswith(a) for a in ALLOWED_FROM_GATEWAY)):
                found.append(name)
    return sorted(set(found))


def test_the_scan_catches_imports_of_connectors_and_gateway_parsers():
    source = ("import json\nfrom connectors.vodokanal import wire\nimport gateway.addresses\n"
              "def f():\n    from gateway.toolkit.timestamps import instant\n"
              "from gateway.connections import ConnectionConfig\n")
    assert forbidden_imports(source) == ["connectors.vodokanal", "connectors.vodokanal.wire", "gateway.addresses",
                                         "gateway.toolkit.timestamps", "gateway.toolkit.timestamps.instant"]


@pytest.mark.parametrize("path", sorted((ROOT / "simulators").glob("*.py")), ids=lambda p: p.name)
def test_no_simulator_imports_a_connector_or_the_gateways_parsers(path):
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


def test_simulators_are_not_part_of_the_installed_package():
    with (ROOT / "pyproject.toml").open("rb") as handle:
        include = tomllib.load(handle)["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["gateway*", "connectors*"]


# every request against the contract document ---------------------------------------------------------
def draft(reference: str, job_type: str, **changes) -> JobDraft:
    fields = dict(reference=reference, idempotency_key=f"k-{reference}", classifier_code="3.1", job_type=job_type,
                  priority="urgent", street="вул. Соборності", house="14", flat="7",
                  description="Немає води, тел. 067 123 45 67", reported_at=datetime.now(UTC) - timedelta(minutes=5))
    return JobDraft(**{**fields, **changes})


class Sent:
    """Every request a connector's session sent, validated against a contract document (openapi-core)."""

    def __init__(self, document: str, session) -> None:
        with (ROOT / "contracts" / document).open(encoding="utf-8") as handle:
            self.api = OpenAPI.from_dict(yaml.safe_load(handle))
        self.checked: list[str] = []
        self.problems: list[str] = []
        session.hooks["response"].append(self._check)

    def _check(self, response, *args, **kwargs) -> None:
        request = RequestsOpenAPIRequest(response.request)
        errors = self.api.unmarshal_request(request).errors
        self.checked.append(f"{response.request.method} {request.path}")
        self.problems += [f"{response.request.method} {request.path}: {e}" for e in errors]


def exercise(connector, job_type: str, sim) -> None:
    """Every operation of the interface, so every kind of request goes out."""
    created = connector.create_job(draft("1520-C-1", job_type, contact_phone="+380671234567"))
    if created.pending_token:
        sim.release_pending()
        created = connector.resolve_pending(created.pending_token)
    connector.find_jobs("1520-C-1")
    sim.advance(2)
    page = connector.fetch_changes(None, 50)
    connector.fetch_changes(page.next_cursor, 50)
    connector.push_update(created.job_id, JobUpdate("details", "Подзвоніть: 0501112233", datetime.now(UTC)))
    if connector.has_planned_works():  # an optional stream
        sim.add_planned_work()
        now = datetime.now(UTC)
        connector.fetch_planned_works(now - timedelta(days=1), now + timedelta(days=20))


def first_job_type(manifest) -> str:
    """The job type of the first entry of the utility's mapping: one the connector really sends."""
    return next(iter(load_manifest_mapping(manifest).job_types.values())).job_type


def test_every_simulator_names_a_contract_document_that_exists():
    assert len(WITNESSED) >= 4 and sorted(REST + SOAP) == sorted(WITNESSED)  # none left unchecked
    for manifest in WITNESSED.values():
        assert (ROOT / "contracts" / manifest.simulator_class().contract_document).exists(), manifest.name


@pytest.mark.parametrize("name", REST)
def test_every_request_of_a_rest_connector_validates_against_the_document(name):
    manifest = WITNESSED[name]
    simulator = manifest.simulator_class()
    with simulator(seed=3) as sim:
        sim.prompt()
        conn = manifest.connector_class(sim.connection_config(), timeouts=TIMEOUTS)
        sent = Sent(simulator.contract_document, conn._http.session)
        exercise(conn, first_job_type(manifest), sim)
        assert sent.problems == [] and sim.contract_violations == []
        assert {c.split(" ")[0] for c in sent.checked} == {"GET", "POST"} and len(sent.checked) >= 5

        # the same check fails when a request breaks the document: a job type the utility does not have
        with pytest.raises(PermanentError):
            conn.create_job(draft("1520-C-2", "NOT_A_TYPE"))
        assert len(sent.problems) == 1 and "POST" in sent.problems[0]
        assert [v["direction"] for v in sim.contract_violations] == ["request"]
        conn.close()


@pytest.mark.parametrize("name", SOAP)
def test_every_request_of_a_soap_connector_validates_against_the_xsd(name):
    manifest = WITNESSED[name]
    with manifest.simulator_class()(seed=3) as sim:
        sim.prompt()
        conn = manifest.connector_class(sim.connection_config(), timeouts=TIMEOUTS)
        exercise(conn, first_job_type(manifest), sim)
        assert sim.contract_violations == []
        assert len(sim.request_log) >= 6
        with pytest.raises(PermanentError):  # a job type the XSD refuses
            conn.create_job(draft("1520-C-2", "not a code"))
        assert [v["direction"] for v in sim.contract_violations] == ["request"]
        conn.close()


def test_free_text_without_the_residents_phone_leaves_without_contacts():
    """Part of the contract with residents: ``send_fields`` bounds what a utility learns (issue 11, 4)."""
    with EcospectransSimulator(seed=3) as sim:  # its mapping sends no resident data at all
        conn = EcospectransConnector(sim.connection_config(), timeouts=TIMEOUTS)
        created = conn.create_job(draft("1520-S-1", "BULKY_WASTE",
                                        description="Меблі. Пишіть на ivan.petrenko@ukr.net або тел. 067-123-45-67"))
        sim.release_pending()
        ticket = conn.resolve_pending(created.pending_token)
        conn.push_update(ticket.job_id, JobUpdate("details", "мій номер +38 (050) 111 22 33", datetime.now(UTC)))
        sent = sim.job_payload(ticket.job_id)["description"] + sim.comments(ticket.job_id)[0]["text"]
        assert "ukr.net" not in sent and "123-45-67" not in sent and "111 22 33" not in sent
        assert "[phone]" in sent and "[e-mail]" in sent
        conn.close()
    with VodokanalSimulator(seed=3) as sim:  # sends the phone when the mapping does: then the text is as written
        conn = VodokanalConnector(sim.connection_config(), timeouts=TIMEOUTS)
        with_phone = conn.create_job(draft("1520-S-2", "NO_WATER_BUILDING", contact_phone="+380671234567"))
        without = conn.create_job(draft("1520-S-3", "NO_WATER_BUILDING"))
        assert "067 123 45 67" in sim.job_payload(with_phone.job_id)["description"]
        assert "067 123 45 67" not in sim.job_payload(without.job_id)["description"]
        conn.close()
