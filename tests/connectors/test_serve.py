"""``python -m simulators serve``: a real process starting the simulators and printing how to connect."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from gateway.connections import parse_airflow_conn
from gateway.connector import Timeouts
from gateway.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
# every registered utility with a simulator: a new one is served with no change here
SERVED = {name: manifest for name, manifest in load_registry().items() if manifest.simulator}


def test_serve_all_prints_connections_that_work_and_the_pools():
    # port base 0: free ports, as every test server here (the command's default is fixed ports)
    command = [sys.executable, "-m", "simulators", "serve", "--all", "--port-base", "0", "--tick", "0"]
    child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("# ready"):
            line = child.stdout.readline()
            assert line, "the command ended before it was ready"
            lines.append(line.strip())
        exports = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
        assert sorted(exports) == sorted(f"AIRFLOW_CONN_{m.conn_id.upper()}" for m in SERVED.values())
        for manifest in SERVED.values():
            config = parse_airflow_conn(manifest.conn_id, exports[f"AIRFLOW_CONN_{manifest.conn_id.upper()}"])
            connector = manifest.connector_class(config, timeouts=Timeouts(connect=2, read=5))
            assert connector.find_jobs("1520-2026-000001") == []  # reachable, credentials accepted
            connector.close()
        pools = [line for line in lines if line.startswith("airflow pools set")]
        assert sorted(pools) == sorted(f"airflow pools set {m.pool} 1 '{name} sync'" for name, m in SERVED.items())
        assert len(SERVED) >= 4  # (the four utilities of today: the registry was read, not an empty tree)
    finally:
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=20) == 0
