"""Екоспецтранс allows 5 requests/s per client, however many processes talk as that client. With the
limiter held in the gateway database, two real processes together never exceed it, as the
simulator's own count shows; with a limiter per process (the proof this test can fail) they do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.connections import to_airflow_json
from simulators.ecospectrans import EcospectransSimulator

ROOT = Path(__file__).resolve().parents[2]
CALLS = 8  # per process, plus one token request each
CHILD = """
import os, sys, time
from connectors.ecospectrans.connector import EcospectransConnector
from gateway.connections import parse_airflow_conn
from gateway.errors import RetriableError
connector = EcospectransConnector(parse_airflow_conn("ecospectrans_api", os.environ["AIRFLOW_CONN_ECOSPECTRANS_API"]))
print("ready", flush=True)
sys.stdin.readline()
refused = 0
for n in range(int(sys.argv[1])):
    try:
        connector.find_jobs(f"1520-{os.getpid()}-{n}")
    except RetriableError:
        refused += 1
print(f"refused={refused}", flush=True)
"""


def run_two_processes(sim: EcospectransSimulator, database_url: str, store: str) -> list[str]:
    config = sim.connection_config()
    config.extra.update(rate_limit_store=store)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GATEWAY_DATABASE_URL": database_url,
           "AIRFLOW_CONN_ECOSPECTRANS_API": to_airflow_json(config)}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(CALLS)], env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        sim.request_log.clear()
        for child in children:  # both start at once
            child.stdin.write("go\n")
            child.stdin.flush()
        outcome = [child.communicate(timeout=120)[0].strip() for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert all(child.returncode == 0 for child in children), outcome
    return outcome


@pytest.fixture
def sim():
    simulator = EcospectransSimulator(seed=5, rate_limit=5, rate_window=1.0).start()
    yield simulator
    simulator.stop()


def test_two_processes_sharing_the_database_limiter_never_exceed_five_per_second(sim, database_url):
    outcome = run_two_processes(sim, database_url, "database")
    assert outcome == ["refused=0", "refused=0"]
    assert len(sim.request_log) == 2 * (CALLS + 1)  # every call and both tokens reached the utility
    assert sim.max_requests_per_window(1.0) <= 5  # the utility's own count, by arrival time
    assert sim.rate_limited_count() == 0


def test_a_limiter_per_process_lets_two_processes_exceed_the_limit(sim, tmp_path):
    run_two_processes(sim, f"sqlite:///{tmp_path / 'unused.db'}", "process")  # no database is touched
    assert sim.max_requests_per_window(1.0) > 5 or sim.rate_limited_count() > 0


def test_the_database_limiter_tables_come_with_the_migrations(database_url):
    from sqlalchemy import inspect

    from gateway.db import make_engine

    engine = make_engine(database_url)
    assert {"gw_rate_buckets", "gw_rate_slots"} <= set(inspect(engine).get_table_names())
    engine.dispose()
    assert json.loads(to_airflow_json(EcospectransSimulator().connection_config()))["extra"]["rate_limit"] == 5
