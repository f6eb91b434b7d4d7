"""A utility's simulator in a process of its own, so parallel benchmark clients do not share one
interpreter with it: prints its AIRFLOW_CONN JSON on one line, serves until stdin closes, then
prints what it holds ({"jobs": N, "requests": M}) and exits.

    python -m bench.simhost NAME [--seed N]
"""

from __future__ import annotations

import json
import sys

from bench.world import start_simulator
from gateway.connections import to_airflow_json


def main() -> None:
    name = sys.argv[1]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--seed" else 1520
    sim = start_simulator(name, seed)
    print(to_airflow_json(sim.connection_config()), flush=True)
    try:
        sys.stdin.read()
    finally:
        jobs = sum(len(ids) for ids in sim.jobs_by_reference().values())
        sim.stop()
        print(json.dumps({"jobs": jobs, "requests": len(sim.request_log)}), flush=True)


if __name__ == "__main__":
    main()
