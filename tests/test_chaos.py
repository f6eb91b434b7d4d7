"""`make chaos` in small: a short chaos run loses and doubles nothing, and its reconciliation does
catch a doubled job, a lost request, a wrong job id and an unsettled dispatch when there is one.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import requests
from sqlalchemy import delete, select

from gateway.connector import Timeouts
from gateway.models import Dispatch
from gateway.sync.context import build_context
from gateway.sync.engine import run_step
from gateway.sync.push import enqueue_new_requests
from tests.conformance.helpers import QUICK_RETRY, REGISTRY, context, no_doubles, register_for, start_simulator

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "chaos.py"


def _load_chaos():
    spec = importlib.util.spec_from_file_location("chaos_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


chaos = _load_chaos()


def registry_secrets() -> list[str]:
    """The credential of every registered utility's simulator (the run starts them with these): a new
    utility's secret is looked for with no change here."""
    found = []
    for manifest in REGISTRY.values():
        if manifest.simulator:
            config = manifest.simulator_class()(seed=7).connection_config()  # (not started: no port taken)
            found += [config.password] if config.password else []
    return found


def test_a_small_chaos_run_loses_and_duplicates_nothing(tmp_path):
    command = [
        sys.executable, str(SCRIPT), "--faults", "30", "--seed", "7", "--requests", "12",
        "--log-dir", str(tmp_path),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    found = chaos.SUMMARY_RE.findall(done.stdout)
    assert len(found) == 1, f"one summary line expected:\n{done.stdout}\n{done.stderr[-3000:]}"
    faults, requests_, jobs, lost, duplicated, _letters, unresolved, *updates = map(int, found[0])
    updates_lost, updates_doubled, closures_undone = updates
    assert (lost, duplicated, unresolved) == (0, 0, 0), done.stdout
    assert (updates_lost, updates_doubled, closures_undone) == (0, 0, 0), done.stdout
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert faults >= 30
    assert requests_ > 0 and jobs > 0
    log = (tmp_path / "children.log").read_text(encoding="utf-8")
    assert "ended ambiguously" in log, "the faults reached the engine"
    secrets = registry_secrets()
    assert len(secrets) >= 4  # one per utility at least: the registry was read
    for secret in secrets:
        assert secret not in log + done.stdout + done.stderr
    assert not re.search(r"\+38067\d{7}", log), "a resident's phone number reached the log"


def test_reconciliation_catches_a_doubled_job_a_lost_request_a_wrong_job_and_an_open_dispatch(engine, sessions):
    manifest = REGISTRY["vodokanal"]
    sim = start_simulator(manifest)
    try:
        first, second, third, fourth = register_for(sessions, manifest, 4)
        assert run_step(context(manifest, sim, engine), "push_jobs")["created"] == 4

        def check():
            return chaos.reconcile(sessions, {"vodokanal": sim.jobs_by_reference()})

        clean = check()
        assert (clean.requests, clean.jobs, clean.lost, clean.duplicated, clean.unresolved) == (4, 4, [], [], [])
        assert clean.ok

        # The utility gets the first request a second time (another Idempotency-Key, same body).
        (job,) = sim.jobs_by_reference()[first]
        reply = requests.post(f"{sim.url}/api/v1/work-orders", json=sim.job_payload(job), timeout=5,
                              headers={"X-Api-Key": sim.api_key, "Idempotency-Key": str(uuid.uuid4())})
        assert reply.status_code == 201
        doubled = check()
        assert len(doubled.duplicated) == 1 and first in doubled.duplicated[0]
        assert doubled.lost == [] and not doubled.ok

        # The contact centre forgets that it sent the second one.
        with sessions.begin() as session:
            session.execute(delete(Dispatch).where(Dispatch.reference == second))
        lost = check()
        assert len(lost.lost) == 1 and second in lost.lost[0] and len(lost.duplicated) == 1

        # The third one points at a job that is not the utility's job for it.
        with sessions.begin() as session:
            session.scalars(select(Dispatch).where(Dispatch.reference == third)).one().job_id = "WO-999999"
        wrong = check()
        assert len(wrong.lost) == 2 and any(third in problem for problem in wrong.lost)

        # The fourth is still in flight: unresolved, not (yet) lost.
        with sessions.begin() as session:
            session.scalars(select(Dispatch).where(Dispatch.reference == fourth)).one().state = "in_flight"
        still = check()
        assert len(still.unresolved) == 1 and fourth in still.unresolved[0] and len(still.lost) == 2
    finally:
        sim.stop()


def test_a_refused_request_needs_its_dead_letter(engine, sessions):
    manifest = REGISTRY["vodokanal"]
    sim = start_simulator(manifest)
    try:
        (number,) = register_for(sessions, manifest, 1)
        enqueue_new_requests(context(manifest, sim, engine), Counter())
        with sessions.begin() as session:  # refused, but nobody kept the dead letter
            session.scalars(select(Dispatch)).one().state = "dead"
        result = chaos.reconcile(sessions, {"vodokanal": sim.jobs_by_reference()})
        assert result.lost == [f"vodokanal {number}: dead without a dead letter"]
    finally:
        sim.stop()


# Found by make chaos: after an ambiguous create at a utility without idempotency, push re-created as
# soon as one lookup found nothing, while the first create was still committing (fixed in push._create).
def test_a_create_slower_than_the_read_timeout_is_not_doubled(engine, sessions):
    manifest = replace(REGISTRY["teplotsentral"], timeouts=Timeouts(connect=1, read=1))
    sim = start_simulator(manifest)
    try:
        (number,) = register_for(sessions, manifest, 1)
        # The service takes 2 s for the first RegisterComplaint (the first POST of this step) and
        # commits it then; the client gave up after 1 s.
        method, path = sim.create_route
        sim.faults.inject("latency", method=method, path=path, seconds=2.0)
        ctx = build_context(manifest, sim.connection_config(), engine, retry=QUICK_RETRY)
        try:
            run_step(ctx, "push_jobs")
        finally:
            ctx.connector.close()
        time.sleep(1.5)  # the slow create lands
        assert sim.faults.injected["latency"] == 1
        assert no_doubles(sim) == {}, f"{number} was registered twice"
    finally:
        sim.stop()
