"""Never doubled, never lost, on Airflow's real CeleryExecutor with two workers.

1. One utility's push runs on both workers at the same time (two DAG runs, a pool of two slots):
   every request becomes exactly one job at the utility, counted at its simulator.
2. A worker is killed (SIGKILL of its whole process group) in the middle of a push: Airflow retries
   the task on the other worker, and after the dead worker's lease on its dispatches has run out the
   next run finishes them; again exactly one job per request.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from gateway.models import Dispatch
from tests.conformance.helpers import register_for

pytestmark = [pytest.mark.distributed, pytest.mark.scale_out]


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _jobs_per_request(stand, name: str, numbers: list[str]) -> dict[str, int]:
    jobs = stand.simulators[name].jobs_by_reference()
    return {number: len(jobs.get(number, [])) for number in numbers}


def test_one_utility_pushed_from_both_workers_at_once_doubles_and_skips_nothing(overlap_stand):
    stand, cluster, name = overlap_stand, overlap_stand.cluster, "teplotsentral"  # the one without idempotency
    dag_id = stand.dag_id(name)
    sim = stand.simulators[name]
    numbers = register_for(stand.sessions, stand.registry[name], 60)  # three batches of 20
    sim.faults.inject("latency", method="POST", times=-1, seconds=0.25)  # each call takes a while
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
    created = [cluster.returned(dag_id, run, "push_jobs").get("created", 0) for run in runs]
    assert all(created), f"one push created nothing, so nothing ran concurrently: {created}"

    per_request = _jobs_per_request(stand, name, numbers)
    assert sum(created) == len(numbers), f"jobs created per run {created} for {len(numbers)} requests"
    assert {n: c for n, c in per_request.items() if c != 1} == {}, "a request doubled (>1) or skipped (0)"


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
    return found


def test_a_worker_killed_mid_push_leaves_nothing_the_next_run_does_not_finish(overlap_stand):
    stand, cluster, name = overlap_stand, overlap_stand.cluster, "vodokanal"
    dag_id = stand.dag_id(name)
    sim = stand.simulators[name]
    numbers = register_for(stand.sessions, stand.registry[name], 40)
    method, path = sim.create_route
    sim.faults.inject("latency", method=method, path=path, times=-1, seconds=0.3)
    try:
        run = cluster.trigger(dag_id)

        def pushing():
            ti = cluster.task_instance(dag_id, run, "push_jobs")
            started = ti["state"] == "running" and len(sim.jobs_by_reference()) >= 5
            return cluster.worker_of(ti["hostname"]) if started else None

        victim = _wait_for(pushing, 240, "push_jobs to be creating jobs")
        cluster.kill(victim)
        created_before_kill = len(sim.jobs_by_reference())
        assert created_before_kill < len(numbers), "the push finished before the kill"
        # Airflow notices the silent task (heartbeat timeout) and retries it on the surviving worker.
        assert cluster.wait_for_run(dag_id, run, timeout=400) == "success"
    finally:
        sim.faults.clear()
    push = cluster.task_instance(dag_id, run, "push_jobs")
    assert push["try_number"] >= 2, "the killed try was not retried"
    survivor = cluster.worker_of(push["hostname"])
    assert survivor and survivor != victim

    # The dead worker's claim outlives it by its lease (10 minutes in production); instead of waiting,
    # let that lease run out now. Then the next run settles whatever the kill left in flight.
    with stand.sessions.begin() as session:
        left = session.execute(
            update(Dispatch).where(Dispatch.provider == name, Dispatch.lease_until.is_not(None))
            .values(lease_until=datetime(2000, 1, 1, tzinfo=UTC))
        ).rowcount
    with stand.sessions() as session:
        rows = session.execute(select(Dispatch.state, Dispatch.lease_until).where(Dispatch.provider == name)).all()
    assert left, f"the killed push left no claimed dispatch behind: the kill did not land mid-push: {rows}"
    assert cluster.wait_for_run(dag_id, cluster.trigger(dag_id), timeout=300) == "success"

    per_request = _jobs_per_request(stand, name, numbers)
    assert {n: c for n, c in per_request.items() if c != 1} == {}, "a request doubled (>1) or skipped (0)"
    with stand.sessions() as session:
        states = set(session.scalars(select(Dispatch.state).where(Dispatch.provider == name)).all())
    assert states == {"sent"}
