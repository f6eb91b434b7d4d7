"""`make airflow`: the gateway on a real Airflow on this machine, for a person to open the UI.

Airflow's scheduler, dag-processor, triggerer and api-server run as processes with the LocalExecutor
and PostgreSQL metadata; the contact-centre database is PostgreSQL too, filled with demo requests;
every utility's simulator listens on loopback and its Connection is passed as AIRFLOW_CONN_<ID>.
The DAGs start unpaused, so the syncs run on their schedules; the gateway page is in the UI under
Browse -> "Шлюз 1520". Ctrl-C stops everything. State lives in .airflow/ (ignored).

Sized for a small machine: 2 LocalExecutor workers (Airflow's default of 32 took 3 GB on 2 cores)
and one API server worker. tests/test_airflow_scheduler.py drives the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get("GATEWAY_LOCAL_PG", "postgresql://postgres@127.0.0.1:5432")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def pg_url(database: str) -> str:
    return f"{PG_SERVER}/{database}"


def create_database(name: str, *, reset: bool = False) -> bool:
    """Create a PostgreSQL database unless it exists; True when it was created."""
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        if reset:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_database(name: str) -> None:
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def airflow_env(home: Path, metadata_db: str, port: int, *, parallelism: int = 2,
                paused: bool = False, connections: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow component of one deployment shares.

    Airflow 3 runs tasks through the execution API of the api-server: the scheduler's workers must
    know its URL and all components the same JWT secret.
    """
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{pg_url(metadata_db).replace('postgresql://', 'postgresql+psycopg://')}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(paused),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        **(connections or {}),
    }
    env.pop("GATEWAY_DATABASE_URL", None)  # the DAGs and the plugin use the contact_centre_db Connection
    return env


def airflow(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def migrate(env: dict[str, str]) -> None:
    """Create or upgrade Airflow's metadata database (PostgreSQL: needs asyncpg, pinned)."""
    airflow(env, "db", "migrate")


def start(env: dict[str, str], components: tuple[str, ...] = COMPONENTS) -> dict[str, subprocess.Popen]:
    """Start the components as child processes, each in its own process group, logging to
    AIRFLOW_HOME/<component>.log."""
    processes = {}
    home = Path(env["AIRFLOW_HOME"])
    for component in components:
        args = [sys.executable, "-m", "airflow", component]
        if component == "api-server":
            args += ["--host", env["AIRFLOW__API__HOST"], "--port", env["AIRFLOW__API__PORT"], "--workers", "1"]
        log = open(home / f"{component}.log", "ab")  # noqa: SIM115 - the child keeps it open
        processes[component] = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                                start_new_session=True)
        log.close()
    return processes


def stop(processes: dict[str, subprocess.Popen], grace: float = 10) -> None:
    """SIGTERM each component's process group (its workers included), then SIGKILL what is left."""
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes.values():
        with suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def check_alive(processes: dict[str, subprocess.Popen]) -> None:
    for component, process in processes.items():
        if process.poll() is not None:
            raise RuntimeError(f"airflow {component} exited with {process.returncode}; see its log in AIRFLOW_HOME")


class Api:
    """The few calls of Airflow's REST API (v2) this deployment needs, as the admin user."""

    def __init__(self, env: dict[str, str]) -> None:
        self.base = env["AIRFLOW__API__BASE_URL"]
        self.home = Path(env["AIRFLOW_HOME"])
        self.http = requests.Session()

    def wait_ready(self, processes: dict[str, subprocess.Popen], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            check_alive(processes)
            try:
                if self.http.get(f"{self.base}/api/v2/monitor/health", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API server did not answer on {self.base} in {timeout:.0f} s")
            time.sleep(1)
        self.http.headers["Authorization"] = f"Bearer {self.token()}"

    def password(self, user: str = "admin") -> str:
        """SimpleAuthManager writes the generated passwords here when the API server starts."""
        return json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())[user]

    def token(self, user: str = "admin") -> str:
        reply = self.http.post(f"{self.base}/auth/token", json={"username": user, "password": self.password(user)},
                               timeout=10)
        reply.raise_for_status()
        return reply.json()["access_token"]

    def poll(self, path: str) -> dict | None:
        """GET a JSON answer, or None while the API server is too busy to answer (a loaded machine)."""
        try:
            reply = self.http.get(f"{self.base}{path}", timeout=30)
        except (requests.ConnectionError, requests.Timeout):
            return None
        return reply.json() if reply.status_code == 200 else None

    def create_pools(self, pools: dict[str, str]) -> None:
        """One slot per utility: the utilities' rate limits are per client (see the manifests)."""
        for name, description in pools.items():
            body = {"name": name, "slots": 1, "description": description, "include_deferred": False}
            reply = self.http.post(f"{self.base}/api/v2/pools", json=body, timeout=30)
            if reply.status_code == 409:  # exists: keep the slots a person may have changed
                continue
            reply.raise_for_status()

    def wait_for_dag(self, dag_id: str, processes: dict[str, subprocess.Popen], timeout: float) -> None:
        """Until the dag-processor has parsed and serialised the DAG."""
        deadline = time.monotonic() + timeout
        while self.poll(f"/api/v2/dags/{dag_id}/details") is None:
            check_alive(processes)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} was not parsed in {timeout:.0f} s (see dag-processor.log)")
            time.sleep(1)

    def trigger(self, dag_id: str) -> str:
        """Unpause the DAG and queue a manual run. Unpausing also creates the latest scheduled run; the
        scheduler starts queued runs in order of run_after (max_active_runs=1), so the manual run says
        it was due an hour ago and goes first."""
        due = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        reply = self.http.post(f"{self.base}/api/v2/dags/{dag_id}/dagRuns",
                               json={"logical_date": None, "run_after": due}, timeout=30)
        reply.raise_for_status()
        self.http.patch(f"{self.base}/api/v2/dags/{dag_id}", json={"is_paused": False},
                        timeout=30).raise_for_status()
        return reply.json()["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, processes: dict[str, subprocess.Popen],
                     timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            check_alive(processes)
            state = (self.poll(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}") or {}).get("state")
            if state in ("success", "failed"):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout:.0f} s")
            time.sleep(2)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        reply = self.http.get(f"{self.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", timeout=30)
        return {ti["task_id"]: ti["state"] for ti in reply.json()["task_instances"]}


@contextmanager
def simulators(registry, *, prompt: bool = False) -> Iterator[dict]:
    """Every declared simulator on loopback, by utility name, each that publishes planned works with one."""
    running = {}
    try:
        for name, manifest in registry.items():
            if not manifest.simulator:
                continue
            sim = manifest.simulator_class()(seed=1520).start()
            running[name] = sim
            if prompt:
                sim.prompt()
            if sim.planned_works:  # an optional stream: a utility may publish none
                sim.add_planned_work()
        yield running
    finally:
        for sim in running.values():
            sim.stop()


def connection_variables(registry, running: dict, contact_centre_url: str) -> dict[str, str]:
    """AIRFLOW_CONN_<ID> for each simulator, and the contact-centre database in the URI form people
    write (postgresql://), which Airflow hands back as postgres://."""
    from gateway.connections import to_airflow_json

    variables = {f"AIRFLOW_CONN_{registry[name].conn_id.upper()}": to_airflow_json(sim.connection_config())
                 for name, sim in running.items()}
    variables["AIRFLOW_CONN_CONTACT_CENTRE_DB"] = contact_centre_url
    return variables


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_PORT", "8080")))
    parser.add_argument("--metadata-db", default="gateway_airflow", help="PostgreSQL database for Airflow")
    parser.add_argument("--contact-db", default="gateway_contact_centre", help="PostgreSQL contact-centre database")
    parser.add_argument("--requests", type=int, default=60, help="demo requests to register on a new database")
    parser.add_argument("--parallelism", type=int, default=2, help="LocalExecutor workers")
    parser.add_argument("--reset", action="store_true", help="drop and recreate both databases first")
    args = parser.parse_args()

    from gateway.db import make_engine, session_factory, upgrade, utcnow
    from gateway.demo_data import generate
    from gateway.registry import load_registry

    # Ctrl-C, and a plain `kill`, stop everything: both end in the KeyboardInterrupt below. (A shell
    # starting this in the background would otherwise leave SIGINT ignored.)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    home = ROOT / ".airflow"
    home.mkdir(exist_ok=True)
    registry = load_registry()
    fresh_contact = create_database(args.contact_db, reset=args.reset)
    upgrade(pg_url(args.contact_db))
    if fresh_contact:
        with session_factory(make_engine(pg_url(args.contact_db))).begin() as session:
            generate(session, args.requests, now=utcnow(), seed=1520)
    create_database(args.metadata_db, reset=args.reset)
    with simulators(registry) as running:
        connections = connection_variables(registry, running, pg_url(args.contact_db))
        env = airflow_env(home, args.metadata_db, args.port, parallelism=args.parallelism, connections=connections)
        print("migrating the Airflow metadata database ...", flush=True)
        migrate(env)
        processes = start(env)
        try:
            api = Api(env)
            api.wait_ready(processes, timeout=180)
            api.create_pools({m.pool: f"{m.name} sync" for m in registry.values()})
            print(f"\nAirflow UI: {env['AIRFLOW__API__BASE_URL']}/   login: admin   password: {api.password()}\n"
                  f"gateway page: {env['AIRFLOW__API__BASE_URL']}/gateway/ (Browse -> Шлюз 1520)\n"
                  f"logs: {home}/<component>.log; contact-centre database: {pg_url(args.contact_db)}\n"
                  "Ctrl-C stops Airflow and the simulators.", flush=True)
            while True:
                check_alive(processes)
                time.sleep(5)
        except KeyboardInterrupt:
            print("stopping ...", flush=True)
        finally:
            stop(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
