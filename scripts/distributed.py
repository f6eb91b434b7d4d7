"""`make distributed`: every sync DAG on Airflow's CeleryExecutor with two workers, on this machine.

The topology of the docker-compose file without Docker: the running PostgreSQL holds a fresh Airflow
metadata database and a fresh contact-centre database (with realistic requests), the running Redis
is the Celery broker, the utilities' simulators answer on loopback, and the API server, scheduler,
DAG processor, triggerer and two Celery workers run as processes, each with its own log under
.distributed/<run>/logs/. Every sync DAG is triggered once and must end in success; the summary
shows which worker ran each task (from the task instances' hostname, which names the Celery node)
and what reached the utilities. Everything started is stopped and both databases are dropped,
also when something fails; the logs stay.

Exit code 0 only when every run succeeded, tasks ran on every worker, and no request was doubled
or left unsent.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from airflow_cluster import AirflowCluster, create_database, drop_database, sqlalchemy_url  # noqa: E402

REQUESTS = 150
SUMMARY_RE = re.compile(
    r"^distributed: runs=(\d+) succeeded=(\d+) tasks=(\d+) workers_used=(\d+)/(\d+) "
    r"jobs=(\d+) doubled=(\d+) unsent=(\d+)$",
    re.MULTILINE,
)


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


@dataclass
class Stand:
    """A contact-centre database, the simulators and an Airflow cluster around them."""

    state_dir: Path
    workers: int = 2
    concurrency: int = 2
    heartbeat_timeout: int = 30
    dags_folder: Path = ROOT / "dags"
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    simulators: dict = field(default_factory=dict)
    cluster: AirflowCluster | None = None
    database_url: str = ""

    def __post_init__(self) -> None:
        from gateway.registry import load_registry

        self.registry = load_registry()
        self._exit = ExitStack()

    @property
    def contact_centre_db(self) -> str:
        return f"gw_dist_cc_{self.run_id}"

    def start(self, *, requests: int = REQUESTS) -> Stand:
        try:
            self._start(requests)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, requests: int) -> None:
        from gateway.connections import to_airflow_json
        from gateway.db import make_engine, session_factory, upgrade, utcnow
        from gateway.demo_data import generate

        self.database_url = sqlalchemy_url(create_database(self.contact_centre_db))
        self._exit.callback(drop_database, self.contact_centre_db)
        upgrade(self.database_url)
        engine = make_engine(self.database_url)
        self._exit.callback(engine.dispose)
        self.sessions = session_factory(engine)
        if requests:
            with self.sessions.begin() as session:
                generate(session, requests, now=utcnow(), seed=1520)
        connections = {}
        for name, manifest in self.registry.items():
            if not manifest.simulator:
                continue
            sim = manifest.simulator_class()(seed=1520).start()
            sim.prompt()
            self._exit.callback(sim.stop)
            if sim.planned_works:  # a utility may publish none (cityservice)
                sim.add_planned_work()
            self.simulators[name] = sim
            connections[f"AIRFLOW_CONN_{manifest.conn_id.upper()}"] = to_airflow_json(sim.connection_config())
        self.cluster = AirflowCluster(
            self.state_dir, contact_centre_url=self.database_url, connections=connections, workers=self.workers,
            concurrency=self.concurrency, heartbeat_timeout=self.heartbeat_timeout, run_id=self.run_id,
            dags_folder=self.dags_folder,
        )
        self._exit.callback(self.cluster.stop)
        self.cluster.start()
        for manifest in self.registry.values():
            self.cluster.set_pool(manifest.pool, 1, f"{manifest.name} sync")
        dag_ids = [self.dag_id(name) for name in self.registry]
        self.cluster.wait_for_dags(dag_ids)
        for dag_id in dag_ids:
            self.cluster.unpause(dag_id)

    def stop(self) -> None:
        self._exit.close()

    @staticmethod
    def dag_id(name: str) -> str:
        return f"{name}_sync"

    def reconcile(self, name: str) -> dict[str, int]:
        """What reached the utility, counted at its simulator, against the contact centre's requests."""
        from sqlalchemy import select

        from gateway.models import Dispatch, Executor, Request

        jobs = self.simulators[name].jobs_by_reference()
        with self.sessions() as session:
            numbers = set(session.scalars(
                select(Request.number).join(Executor, Executor.id == Request.executor_id)
                .where(Executor.integration == name)).all())
            settled = dict(session.execute(
                select(Request.number, Dispatch.state).join(Dispatch, Dispatch.request_id == Request.id)
                .where(Dispatch.provider == name)).all())
        ours = {ref: ids for ref, ids in jobs.items() if ref in numbers}
        # "unsent": a request of this utility that is neither a job there, nor linked to a known
        # problem, nor refused for a person to look at (a dead letter).
        unsent = [n for n in numbers if n not in ours and settled.get(n) not in ("linked", "dead")]
        return {
            "requests": len(numbers),
            "jobs": sum(len(ids) for ids in ours.values()),
            "doubled": sum(1 for ids in ours.values() if len(ids) > 1),
            "unsent": len(unsent),
            "linked": sum(1 for s in settled.values() if s == "linked"),
            "dead": sum(1 for s in settled.values() if s == "dead"),
        }


def _seconds(ti: dict) -> float:
    if not ti.get("start_date") or not ti.get("end_date"):
        return 0.0
    start = datetime.fromisoformat(ti["start_date"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(ti["end_date"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def run_every_dag(stand: Stand) -> int:
    cluster = stand.cluster
    assert cluster is not None
    started = time.monotonic()
    runs = {name: cluster.trigger(stand.dag_id(name)) for name in stand.registry}
    say(f"triggered {len(runs)} DAG runs: {', '.join(stand.dag_id(n) for n in runs)}")
    states = {name: cluster.wait_for_run(stand.dag_id(name), run_id) for name, run_id in runs.items()}
    elapsed = time.monotonic() - started

    say("task instances (hostname: the Celery node that ran the task)")
    per_worker: Counter[str] = Counter()
    tasks = 0
    print(f"  {'dag':<20} {'task':<22} {'state':<9} {'try':>3}  {'hostname':<28} {'seconds':>7}")
    for name, run_id in runs.items():
        for ti in sorted(stand.cluster.task_instances(stand.dag_id(name), run_id),
                         key=lambda t: t.get("start_date") or ""):
            tasks += 1
            worker = cluster.worker_of(ti.get("hostname"))
            if worker:
                per_worker[worker] += 1
            print(f"  {ti['dag_id']:<20} {ti['task_id']:<22} {ti['state'] or '-':<9} {ti['try_number']:>3}  "
                  f"{ti.get('hostname') or '-':<28} {_seconds(ti):>7.1f}")
    say("tasks per worker")
    for worker in cluster.worker_names:
        print(f"  celery@{worker}: {per_worker.get(worker, 0)} tasks (log: {cluster.components[worker].log_path})")

    say("what reached the utilities (counted at the simulators)")
    totals: Counter[str] = Counter()
    print(f"  {'utility':<14} {'run':<8} {'requests':>8} {'jobs':>5} {'doubled':>7} {'unsent':>6} {'linked':>6} "
          f"{'dead':>4}")
    for name in runs:
        counts = stand.reconcile(name)
        totals.update(counts)
        print(f"  {name:<14} {states[name]:<8} {counts['requests']:>8} {counts['jobs']:>5} {counts['doubled']:>7} "
              f"{counts['unsent']:>6} {counts['linked']:>6} {counts['dead']:>4}")
    succeeded = sum(1 for s in states.values() if s == "success")
    used = sum(1 for w in cluster.worker_names if per_worker.get(w))
    print(f"\nall runs done in {elapsed:.0f} s; Airflow's logs: {cluster.logs_dir}")
    print(f"distributed: runs={len(runs)} succeeded={succeeded} tasks={tasks} workers_used={used}/"
          f"{len(cluster.worker_names)} jobs={totals['jobs']} doubled={totals['doubled']} unsent={totals['unsent']}",
          flush=True)
    ok = succeeded == len(runs) and used == len(cluster.worker_names) and not totals["doubled"] and not totals["unsent"]
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: .distributed/<run id>")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per Celery worker")
    parser.add_argument("--requests", type=int, default=REQUESTS)
    args = parser.parse_args(argv)
    run_id = uuid.uuid4().hex[:8]
    state_dir = args.state_dir or ROOT / ".distributed" / run_id
    stand = Stand(state_dir, workers=args.workers, concurrency=args.concurrency, run_id=run_id)
    say(f"run {run_id}: PostgreSQL databases gw_dist_af_{run_id} (Airflow) and {stand.contact_centre_db} "
        f"(contact centre), Redis broker, {args.workers} Celery workers; logs in {state_dir}")
    started = time.monotonic()
    try:
        stand.start(requests=args.requests)
        say(f"cluster up in {time.monotonic() - started:.0f} s: "
            + ", ".join(f"{c.name} (pid {c.process.pid})" for c in stand.cluster.components.values()))
        return run_every_dag(stand)
    finally:
        stand.stop()
        say("stopped every process started, dropped both databases")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
