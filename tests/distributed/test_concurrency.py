"""Never doubled, never lost, on Airflow's real CeleryExecutor with two workers.

1. One utility's push runs on both workers at the same time (two DAG runs, a pool of two slots; the
   simulator holds the first create until the other push's create arrives, so both really create at
   once): every request becomes exactly one job at the utility, counted at its simulator.
2. A worker is killed (SIGKILL of its whole process tree) right after the utility committed a create
   whose answer it is still waiting for: Airflow retries the task on the other worker, and after the
   dead worker's lease on its dispatches has run out the next run finishes them; again exactly one
   job per request.

Both on teplotsentral, which has no idempotency key to hide a second create. Broken on purpose (claims
without SKIP LOCKED and lease check; in-flight dispatches created again without a lookup and never
adopted from the change feed), each of them fails with a doubled request.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from gateway.models import Dispatch, Request
from tests.conformance.helpers import register_for

pytestmark = [pytest.mark.distributed, pytest.mark.scale_out]


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _jobs_per_request(stand, name: str, numbers: list[str]) -> dict[str, int]:
    jobs = stand.simulators[name].jobs_by_reference()
    return {number: len(jobs.get(number, [])) for number in numbers}


def test_one_utility_pushed_from_both_workers_at_once_doubles_and_skips_nothing(overlap_stand):
    """Two DAG runs of the utility without idempotency, a pool of two slots: both pushes start on
    different workers at the same time. The step lock lets one hold the push while the other says so
    and leaves; every request ends with exactly one job, none is skipped."""
    stand, cluster, name = overlap_stand, overlap_stand.cluster, "teplotsentral"  # the one without idempotency
    dag_id = stand.dag_id(name)
    sim = stand.simulators[name]
    numbers = register_for(stand.sessions, stand.registry[name], 60)  # three batches of 20
    sim.faults.inject("latency", method="POST", times=-1, seconds=0.25)  # each call takes a while: ~15 s a push
    cluster.set_pool(stand.registry[name].pool, 2, "two slots: both runs push at once")
    try:
        runs = [cluster.trigger(dag_id), cluster.trigger(dag_id)]
        states = [cluster.wait_for_run(dag_id, run, timeout=400) for run in runs]
    finally:
        sim.faults.clear()
        cluster.set_pool(stand.registry[name].pool, 1, f"{name} sync")
    assert states == ["success", "success"]

    pushes = [cluster.task_instance(dag_id, run, "push_jobs") for run in runs]
    workers = [cluster.worker_of(ti["hostname"]) for ti in pushes]
    assert None not in workers and workers[0] != workers[1], f"both pushes on one worker: {workers}"
    first, second = ((_when(ti["start_date"]), _when(ti["end_date"])) for ti in pushes)
    assert first[0] < second[1] and second[0] < first[1], f"the two pushes did not overlap: {first}, {second}"
    returned = [cluster.returned(dag_id, run, "push_jobs") for run in runs]
    assert sorted(r.get("busy", 0) for r in returned) == [0, 1], f"one push holds the step, one leaves: {returned}"

    per_request = _jobs_per_request(stand, name, numbers)
    assert sum(r.get("created", 0) for r in returned) == len(numbers), f"jobs created per run: {returned}"
    assert {n: c for n, c in per_request.items() if c != 1} == {}, "a request doubled (>1) or skipped (0)"


def _created(stand, name: str, numbers: list[str]) -> list[str]:
    jobs = stand.simulators[name].jobs_by_reference()
    return [n for n in numbers if jobs.get(n)]


def _watch_creates(sim) -> tuple[list[str], threading.Condition]:
    """Note each job the simulator commits, the moment it commits it (before any late reply)."""
    original, committed, changed = sim.dispatch, [], threading.Condition()

    def watching(request, fault):
        response = original(request, fault)
        # The late-reply fault calls dispatch again without the fault: that inner call commits.
        if fault is None and b"RegisterComplaintResponse" in response.body:
            with changed:
                committed.append(request.path)
                changed.notify_all()
        return response

    sim.dispatch = watching
    return committed, changed


def test_a_worker_killed_mid_push_leaves_nothing_the_next_run_does_not_finish(overlap_stand):
    # teplotsentral: no idempotency key would make a second create of an in-flight job harmless.
    stand, cluster, name = overlap_stand, overlap_stand.cluster, "teplotsentral"
    dag_id = stand.dag_id(name)
    sim = stand.simulators[name]
    # A batch of 20 and one of 10, at addresses of their own (not repeats of another test's requests).
    numbers = register_for(stand.sessions, stand.registry[name], 30, first_house=500)
    committed, changed = _watch_creates(sim)
    # Every call commits at once and is answered 0.6 s later: a kill right after a commit lands while
    # the worker still waits for that answer, so the job exists at the utility and the dispatch is in flight.
    sim.faults.inject("x-late-reply", method="POST", times=-1, seconds=0.6)
    try:
        run = cluster.trigger(dag_id)
        with changed:
            assert changed.wait_for(lambda: committed, timeout=300), "push_jobs created nothing"
        victim = cluster.worker_of(cluster.task_instance(dag_id, run, "push_jobs")["hostname"])
        assert victim, "push_jobs runs on no known worker"
        with changed:
            seen = len(committed)
            assert changed.wait_for(lambda: len(committed) > seen, timeout=60), "the push stopped creating"
            cluster.kill(victim)
        with stand.sessions() as session:
            in_flight = set(session.scalars(select(Dispatch.reference).where(
                Dispatch.provider == name, Dispatch.state == "in_flight")).all())
        assert in_flight & set(_created(stand, name, numbers)), "no job was in flight at the kill"
        assert len(_created(stand, name, numbers)) < len(numbers), "the push finished before the kill"
        # Airflow notices the silent task (heartbeat timeout) and retries it on the surviving worker.
        assert cluster.wait_for_run(dag_id, run, timeout=400) == "success"
    finally:
        sim.faults.clear()
        del sim.dispatch
    push = cluster.task_instance(dag_id, run, "push_jobs")
    assert push["try_number"] >= 2, "the killed try was not retried"
    survivor = cluster.worker_of(push["hostname"])
    assert survivor and survivor != victim

    # The dead worker's claim outlives it by its lease (10 minutes in production); instead of waiting,
    # let that lease run out now. Then the next run settles whatever the kill left in flight.
    with stand.sessions.begin() as session:
        left = session.execute(
            update(Dispatch).where(Dispatch.provider == name, Dispatch.lease_until > datetime.now(UTC))
            .values(lease_until=datetime(2000, 1, 1, tzinfo=UTC))
        ).rowcount
    assert left, "the killed push left no claimed dispatch behind"
    assert cluster.wait_for_run(dag_id, cluster.trigger(dag_id), timeout=300) == "success"

    per_request = _jobs_per_request(stand, name, numbers)
    assert {n: c for n, c in per_request.items() if c != 1} == {}, "a request doubled (>1) or skipped (0)"
    with stand.sessions() as session:
        states = set(session.scalars(select(Dispatch.state).join(Dispatch.request)
                                     .where(Dispatch.provider == name, Request.number.in_(numbers))).all())
    assert states == {"sent"}
