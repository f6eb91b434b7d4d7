"""`make bench` at a tiny size: it pushes and pulls what it says it does, and its reference clients
really make the gateway's calls (counted, and compared body by body, at the simulator).

The benchmark runs on PostgreSQL (COPY, one psycopg bulk upsert), so these tests do too.
"""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import select

from bench.config import SCALES, sizes
from bench.databases import Databases
from bench.parse import project_copy
from bench.pull import gateway_pull, prepare_feed, reference_pull
from bench.push import gateway_push, reference_calls, reference_push
from bench.report import KEYS, write_results
from bench.world import manifest, start_simulator
from gateway.db import make_engine, session_factory
from gateway.models import Cursor, Dispatch
from gateway.registry import load_registry
from tests.conftest import BACKENDS

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="the benchmark runs on PostgreSQL")
REFERENCE_FIELD = {"vodokanal": "external_ref", "teplotsentral": "ExternalNumber"}


@pytest.fixture
def dbs():
    made = Databases()
    yield made
    made.close()


@pytest.mark.parametrize("name", ["vodokanal", "teplotsentral"])
def test_push_and_its_reference_make_the_same_calls(dbs, name):
    sim = start_simulator(name)
    try:
        gateway = gateway_push(dbs, name, 6, sim)
        jobs_of_gateway = {ref: ids for ref, ids in sim.jobs_by_reference().items()}
        replay = reference_calls(name, sim)
        reference = reference_push(name, sim, replay)
        field = REFERENCE_FIELD[name]
        received = {}
        for ref, ids in sim.jobs_by_reference().items():
            assert len(ids) == 1, f"{ref}: {ids}"
            received[ref] = sim.job_payload(ids[0])
    finally:
        sim.stop()
    assert gateway["created"] + gateway["linked"] == 6
    assert gateway["create_calls"] == gateway["created"] == len(jobs_of_gateway) == gateway["states"]["sent"]
    assert reference["create_calls"] == reference["created"] == gateway["created"]
    for ref in jobs_of_gateway:  # the reference sent each of the gateway's bodies again, only renamed
        assert received[f"R-{ref}"] == {**received[ref], field: f"R-{ref}"}


def test_pull_and_its_reference_apply_the_same_feed(dbs):
    sim = start_simulator("vodokanal")
    try:
        url = dbs.fresh()
        in_feed = prepare_feed(url, sim, 40)
        twin = dbs.copy_of(url)
        gateway = gateway_pull(url, sim)
        reference = reference_pull(twin, sim)
        assert in_feed == sim.last_seq() >= 40
    finally:
        sim.stop()
    assert gateway["received"] == reference["received"] == in_feed
    assert gateway["feed_calls"] == gateway["pages"]
    assert reference["feed_calls"] == math.ceil(in_feed / manifest("vodokanal").batch_size)
    applied = []
    for database in (url, twin):
        engine = make_engine(database)
        with session_factory(engine)() as session:
            applied.append((
                sorted(session.execute(select(Dispatch.job_id, Dispatch.provider_status, Dispatch.last_change_pos)
                                       .where(Dispatch.provider == "vodokanal")).tuples().all()),
                session.get(Cursor, ("vodokanal", "status_changes")).value,
            ))
        engine.dispose()
    gateway_state, reference_state = applied
    assert gateway_state == reference_state  # each job's latest change, and the cursor, alike
    assert gateway_state[1] == str(in_feed)
    assert all(position is not None for _, _, position in gateway_state[0])


def test_the_city_sized_dag_folder_holds_130_connectors(tmp_path):
    project = project_copy(tmp_path / "city", 130)
    registry = load_registry(project / "connectors")
    assert len(registry) == 130
    assert {"vodokanal", "teplotsentral", "ecospectrans"} <= set(registry)


def test_sizes_come_from_the_scale_and_the_environment():
    assert sizes("full") == SCALES["full"]
    assert sizes("small", {"BENCH_PUSH_REQUESTS": "7", "BENCH_BACKLOG_BUDGET_S": "2.5"}).push_requests == 7
    assert sizes("small", {"BENCH_BACKLOG_BUDGET_S": "2.5"}).backlog_budget_s == 2.5
    with pytest.raises(ValueError, match="BENCH_PUSH_REQUESTS"):
        sizes("small", {"BENCH_PUSH_REQUESTS": "many"})
    with pytest.raises(ValueError, match="unknown BENCH_SCALE"):
        sizes("huge", {})


def test_results_hold_exactly_the_issue_keys_plus_raw_and_run(tmp_path):
    from datetime import UTC, datetime

    path = tmp_path / "results.json"
    write_results(path, {"push_ratio": 0.9, "backlog_utilisation": {"vodokanal": 0.9, "ecospectrans": 0.5}},
                  {"push": {"n": 1}}, "small", sizes("small", {}), datetime.now(UTC))
    document = json.loads(path.read_text())
    assert list(document) == [*KEYS, "raw", "run"]
    assert KEYS == ("push_ratio", "pull_ratio", "pull_growth_ratio", "push_growth_ratio", "naive_airflow_speedup",
                    "parse_growth_ratio", "rss_growth_ratio", "backlog_100k_s", "backlog_utilisation",
                    "sos_latency_p95_s")
    assert document["run"]["targets_met"]["push_ratio"] is True
    assert document["run"]["targets_met"]["backlog_utilisation"] is False  # every utility must reach 0.8
    assert document["run"]["targets_met"]["pull_ratio"] is None  # not measured is not met


def test_backlog_counts_what_each_utility_took_in_processes_of_their_own(dbs):
    from bench.backlog import measure_backlog

    result = measure_backlog(dbs, 24, 0, {"vodokanal": 100.0, "teplotsentral": 100.0})
    assert sum(u["requests"] for u in result["utilities"].values()) == 24
    for name, utility in result["utilities"].items():
        assert utility["requests"] > 0, name  # the city's proportions give every utility some
        assert utility["settled"] == utility["requests"] == sum(utility["dispatches"].values())
        assert utility["jobs_at_utility"] == utility["dispatches"].get("sent", 0)
        assert utility["utilisation"] == pytest.approx(utility["per_s"] / utility["allowed_per_s"])
    assert result["cleared"] and result["projected"]  # 24 is not 100,000: the time is projected
