"""Airflow's distributed topology as processes on this machine: the same components the
docker-compose file runs, without Docker.

``AirflowCluster`` creates a fresh Airflow metadata database on the running PostgreSQL, migrates it,
and starts the API server, the scheduler, the DAG processor, the triggerer and Celery workers
(CeleryExecutor, broker on the running Redis), each a process with its own log file. It talks to
the cluster only the way an operator does: Airflow's REST API (pools, DAG runs, task instances)
and signals to processes. ``stop()`` ends what it started, process group by process group, and
drops the database.

Several clusters (other checkouts, parallel test runs) can share one Redis: each cluster has a
Celery queue of its own, its workers listen only there and do not gossip, so no cluster ever
takes another's tasks. Every port is picked free; no fixed port is bound.

Used by ``make distributed`` (scripts/distributed.py) and the scale-out tests (tests/distributed/).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("GATEWAY_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("GATEWAY_REDIS_URL", "redis://127.0.0.1:6379/0")
FINAL_RUN_STATES = {"success", "failed"}
# Variables of the caller that must not leak into the cluster (a test's own Airflow home, say).
_OWN_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW_HOME", "AIRFLOW_CONFIG", "GATEWAY_",
                 "PYTEST_")


class ClusterError(RuntimeError):
    """The cluster did not come up or did not answer as expected; the message names the log to read."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_url(database: str, admin_url: str = PG_ADMIN_URL) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{database}"


def create_database(name: str, admin_url: str = PG_ADMIN_URL) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url(name, admin_url)


def drop_database(name: str, admin_url: str = PG_ADMIN_URL) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(url: str) -> str:
    """postgresql://... as SQLAlchemy with psycopg 3 wants it (psycopg2 is not installed)."""
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


@dataclass
class Component:
    name: str
    argv: list[str]
    log_path: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class AirflowCluster:
    """api-server, scheduler, dag-processor, triggerer and ``workers`` Celery workers."""

    def __init__(
        self,
        state_dir: Path,
        *,
        contact_centre_url: str,
        connections: Mapping[str, str],
        workers: int = 2,
        concurrency: int = 2,
        heartbeat_timeout: int = 30,
        run_id: str | None = None,
        admin_url: str = PG_ADMIN_URL,
        redis_url: str = REDIS_URL,
        dags_folder: Path = ROOT / "dags",
    ) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.state_dir = state_dir
        self.logs_dir = state_dir / "logs"
        self.home = state_dir / "airflow"
        self.admin_url = admin_url
        self.metadata_db = f"gw_dist_af_{self.run_id}"
        self.queue = f"gateway_{self.run_id}"
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.worker_names = [f"worker{i + 1}-{self.run_id}" for i in range(workers)]
        self.concurrency = concurrency
        self.heartbeat_timeout = heartbeat_timeout
        self.contact_centre_url = contact_centre_url
        self.connections = dict(connections)
        self.redis_url = redis_url
        self.dags_folder = dags_folder
        self.components: dict[str, Component] = {}
        self._descendants: list[psutil.Process] = []
        self._db_created = False
        self._http = requests.Session()

    # configuration ----------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """What every component gets: the same configuration across the cluster, as Airflow requires."""
        from cryptography.fernet import Fernet

        metadata = sqlalchemy_url(pg_url(self.metadata_db, self.admin_url))
        env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
        env.update({
            "PYTHONPATH": str(ROOT),  # this checkout's gateway, connectors and DAGs
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__PARALLELISM": str(max(4, len(self.worker_names) * self.concurrency)),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
            # Two workers on one host share a hostname: record the Celery node name per task instead.
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "gateway.worker_hostname.celery_node_name",
            # Loopback only, started and stopped by this script: no login needed to read the API.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            "AIRFLOW__API__BASE_URL": self.api,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
            "AIRFLOW__CELERY__BROKER_URL": self.redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # Runs are triggered on purpose here; no cron run may start in between.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(self.heartbeat_timeout),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "GATEWAY_DATABASE_URL": self.contact_centre_url,
        })
        env.update(self.connections)
        return env

    def _components(self) -> list[Component]:
        airflow = [sys.executable, "-m", "airflow"]
        found = [
            Component("api-server", [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.port),
                                     "--workers", "1"], self.logs_dir / "api-server.log"),
            Component("scheduler", [*airflow, "scheduler", "--skip-serve-logs"], self.logs_dir / "scheduler.log"),
            Component("dag-processor", [*airflow, "dag-processor"], self.logs_dir / "dag-processor.log"),
            Component("triggerer", [*airflow, "triggerer", "--skip-serve-logs"], self.logs_dir / "triggerer.log"),
        ]
        for name in self.worker_names:
            found.append(Component(
                name,
                [*airflow, "celery", "worker", "--celery-hostname", name, "--queues", self.queue,
                 "--concurrency", str(self.concurrency), "--skip-serve-logs", "--without-mingle",
                 "--without-gossip"],
                self.logs_dir / f"{name}.log",
            ))
        return found

    # life cycle ---------------------------------------------------------------------------------
    def start(self, *, timeout: float = 240) -> AirflowCluster:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        create_database(self.metadata_db, self.admin_url)
        self._db_created = True
        env = self.environment()
        migrate_log = self.logs_dir / "db-migrate.log"
        with open(migrate_log, "wb") as log:
            done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        if done.returncode != 0:
            raise ClusterError(f"airflow db migrate failed; see {migrate_log}")
        deadline = time.monotonic() + timeout
        for component in self._components():
            self.components[component.name] = component
            self._spawn(component, env)
        self._wait(lambda: self._get("/api/v2/monitor/health", quiet=True) is not None, deadline, "api-server")
        for name in self.worker_names:
            self._wait(lambda n=name: f"{n} ready" in self.log_text(n), deadline, name)
        return self

    def _spawn(self, component: Component, env: dict[str, str]) -> None:
        log = open(component.log_path, "ab")  # noqa: SIM115 - the child keeps it; closed at stop
        # A session of its own: stopping (or killing) a component takes its children with it.
        component.process = subprocess.Popen(component.argv, env={**env, **component.env_overrides}, cwd=ROOT,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def _wait(self, ready, deadline: float, what: str) -> None:
        while not ready():
            component = self.components.get(what)
            if component and not component.alive:
                raise ClusterError(f"{what} exited with {component.process.returncode}; see {component.log_path}")
            if time.monotonic() > deadline:
                log = self.components[what].log_path if what in self.components else self.logs_dir
                raise ClusterError(f"{what} not ready in time; see {log}")
            time.sleep(0.5)

    def log_text(self, name: str) -> str:
        path = self.components[name].log_path
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def kill(self, name: str) -> None:
        """SIGKILL a component and every process under it, as when its machine dies.

        Killing the process group is not enough: Airflow's task processes start sessions of their
        own, and one left alive goes on working (and writing) after Airflow gave its task up.
        """
        component = self.components[name]
        if component.process is None:
            return
        try:
            tree = [psutil.Process(component.process.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(tree, timeout=30)
        component.process.wait(timeout=30)

    def stop(self) -> None:
        """End every process this cluster started (TERM, then KILL), then drop its database."""
        running = [c for c in self.components.values() if c.alive]
        self._descendants = []
        for component in running:
            with contextlib.suppress(psutil.NoSuchProcess):
                self._descendants += psutil.Process(component.process.pid).children(recursive=True)
        for component in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(component.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for component in running:
            try:
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(component.process.pid, signal.SIGKILL)
                component.process.wait(timeout=10)
        for process in self._descendants:  # what outlived its parent, e.g. task processes in sessions of their own
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self._http.close()
        if self._db_created:
            drop_database(self.metadata_db, self.admin_url)
            self._db_created = False

    def __enter__(self) -> AirflowCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # the REST API ---------------------------------------------------------------------------------
    def _get(self, path: str, *, quiet: bool = False) -> Any:
        try:
            response = self._http.get(self.api + path, timeout=60)
        except requests.RequestException:
            if quiet:
                return None
            raise
        if quiet and response.status_code != 200:
            return None
        response.raise_for_status()
        return response.json()

    def _send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        response = self._http.request(method, self.api + path, json=body, timeout=60)
        if response.status_code >= 400:
            raise ClusterError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def set_pool(self, name: str, slots: int, description: str = "") -> None:
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        if self._get(f"/api/v2/pools/{name}", quiet=True) is None:
            self._send("POST", "/api/v2/pools", body)
        else:
            self._send("PATCH", f"/api/v2/pools/{name}", body)

    def wait_for_dags(self, dag_ids: list[str], *, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for dag_id in dag_ids:
            self._wait(lambda d=dag_id: self._get(f"/api/v2/dags/{d}", quiet=True) is not None, deadline,
                       "dag-processor")

    def unpause(self, dag_id: str) -> None:
        self._send("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        run = self._send("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {}})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.run_state(dag_id, run_id)) not in FINAL_RUN_STATES:
            for component in self.components.values():
                if component.name not in self.worker_names and not component.alive:
                    raise ClusterError(f"{component.name} died; see {component.log_path}")
            if time.monotonic() > deadline:
                raise ClusterError(f"{dag_id} {run_id} still {state} after {timeout:.0f} s; see {self.logs_dir}")
            time.sleep(1)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self._get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self._get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def worker_of(self, hostname: str | None) -> str | None:
        """The worker name behind a task instance's hostname (``celery@<name>``)."""
        if not hostname:
            return None
        name = hostname.rpartition("@")[2]
        return name if name in self.worker_names else None

    def returned(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """What a task returned (its ``return_value`` XCom), as JSON."""
        return self._get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
                         "?deserialize=true")["value"]
