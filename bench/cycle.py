"""One utility's sync cycles in a process of their own (for peak memory and the parallel backlog).

    python -m bench.cycle NAME DATABASE_URL [--steps all|push_jobs] [--budget SECONDS]

The utility's connection comes from AIRFLOW_CONN_<ID>, as for ``gateway sync``. Without a budget it
runs one cycle; with one it repeats cycles until nothing moves or the budget is spent. Prints one
JSON line: the counts summed over cycles, the cycles run and the seconds taken.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from gateway.connections import from_environment
from gateway.runner import manifest_named, run_sync_steps

MOVED = ("enqueued", "created", "linked", "received")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.cycle")
    parser.add_argument("name")
    parser.add_argument("database")
    parser.add_argument("--steps", default="all")
    parser.add_argument("--budget", type=float, default=None)
    args = parser.parse_args(argv)
    manifest = manifest_named(args.name)
    steps = None if args.steps == "all" else args.steps.split(",")
    connection = from_environment(manifest.conn_id)
    total: Counter[str] = Counter()
    started, cycles = time.perf_counter(), 0
    while True:
        results = run_sync_steps(args.name, steps, connection, args.database)
        cycles += 1
        for counts in results.values():
            total.update(counts)
        moved = any(counts.get(k) for counts in results.values() for k in MOVED)
        if args.budget is None or not moved or time.perf_counter() - started >= args.budget:
            break
    print(json.dumps({"counts": dict(total), "cycles": cycles, "seconds": time.perf_counter() - started,
                      "peak_rss_kb": peak_rss_kb()}))


def peak_rss_kb() -> int:
    """This process's own peak resident memory (VmHWM). Not getrusage: its ru_maxrss survives exec
    and so includes the parent's memory the child was forked (or vforked) from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    main()
