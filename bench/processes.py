"""Child processes of the benchmark: simulator hosts and sync cycles, with their peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from bench.world import ROOT, manifest


def child_env(**extra: str) -> dict[str, str]:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


class SimHost:
    """``python -m bench.simhost``: a simulator in its own process; stop() returns what it holds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.process = subprocess.Popen([sys.executable, "-m", "bench.simhost", name], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT, env=child_env())
        self.connection_json = self.process.stdout.readline().strip()
        if not self.connection_json:
            raise RuntimeError(f"simulator host for {name} did not start")

    @property
    def env_name(self) -> str:
        return f"AIRFLOW_CONN_{manifest(self.name).conn_id.upper()}"

    def stop(self) -> dict[str, Any]:
        out, _ = self.process.communicate("", timeout=60)
        return json.loads(out.strip().splitlines()[-1])


@dataclass
class Finished:
    result: dict[str, Any]
    peak_rss_mb: float


def start_cycle(name: str, database: str, connection_json: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.cycle", name, database, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env=child_env(**{f"AIRFLOW_CONN_{manifest(name).conn_id.upper()}": connection_json}))


def wait_cycle(process: subprocess.Popen[str]) -> Finished:
    """Wait for a cycle process; it reports its own peak resident memory (see bench.cycle)."""
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"bench.cycle {process.args[3:5]} exited with {process.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    return Finished(result, result["peak_rss_kb"] / 1024)
