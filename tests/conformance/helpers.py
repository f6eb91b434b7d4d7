"""Shared pieces of the conformance suite: every registered connector against its own simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.connector import Timeouts
from gateway.db import utcnow
from gateway.demo_data import register_request
from gateway.reference_data import items_by_code
from gateway.registry import Manifest, load_registry
from gateway.sync.context import SyncContext, build_context, load_manifest_mapping
from gateway.sync.retry import RetryPolicy

REGISTRY = load_registry()
CONNECTORS = sorted(name for name, m in REGISTRY.items() if m.simulator)
QUICK_RETRY = RetryPolicy(attempts=4, initial=0.05, maximum=0.5, max_retry_after=5)
TEST_TIMEOUTS = Timeouts(connect=2, read=5)


STARTED: list = []  # simulators started for the running test (the contract check reads them afterwards)


def start_simulator(manifest: Manifest, seed: int = 1520):
    sim = manifest.simulator_class()(seed=seed).start()
    sim.prompt()
    STARTED.append(sim)
    return sim


def contract_violations() -> list[dict]:
    """Every request the simulators of this test received and every reply they sent that broke the
    utility's contract document (OpenAPI 3.1 or WSDL/XSD), oldest first."""
    return [{"utility": sim.name, **v} for sim in STARTED for v in sim.contract_violations]


def context(manifest: Manifest, sim, engine, **options) -> SyncContext:
    options.setdefault("retry", QUICK_RETRY)
    options.setdefault("pending_interval", 0.3)
    options.setdefault("pending_rounds", 20)
    return build_context(manifest, sim.connection_config(), engine, **options)


def served_codes(manifest: Manifest) -> list[str]:
    """Classifier codes the utility's mapping sends it, in the current version."""
    mapping = load_manifest_mapping(manifest)
    return sorted(mapping.codes, key=lambda c: tuple(int(p) for p in c.split(".")))


def register_for(sessions: sessionmaker[Session], manifest: Manifest, count: int) -> list[str]:
    """``count`` requests across the items the utility serves, at distinct addresses."""
    codes = served_codes(manifest)
    streets = ["вул. Кобилянського", "просп. Гагаріна", "вул. Ватутіна", "вул. Каткова"]
    numbers = []
    with sessions.begin() as session:
        items = items_by_code(session)
        for n in range(count):
            code = codes[n % len(codes)]
            request = register_request(
                session, item=items[code], street=streets[n % len(streets)], house=str(100 + n), flat=str(n + 1),
                description=f"{items[code].name_uk} (перевірка {n})", contact_phone=f"+38067{5550000 + n}",
                registered_at=utcnow() - timedelta(minutes=count - n), executor_id=manifest.executor,
            )
            numbers.append(request.number)
    return numbers


def no_doubles(sim) -> dict[str, list[str]]:
    return {ref: ids for ref, ids in sim.jobs_by_reference().items() if len(ids) != 1}


connector_param = pytest.mark.parametrize("name", CONNECTORS)
