"""rss_growth_ratio: peak memory of one full sync cycle of vodokanal over a backlog of many
requests divided by over few, each cycle in a fresh process (the kernel reports its peak)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bench.databases import Databases
from bench.processes import SimHost, start_cycle, wait_cycle
from bench.world import fill

UTILITY = "vodokanal"


def cycle_over(dbs: Databases, backlog: int) -> dict[str, Any]:
    url = dbs.fresh()
    fill(url, backlog, executors={UTILITY}, spread=timedelta(hours=2))
    host = SimHost(UTILITY)
    try:
        finished = wait_cycle(start_cycle(UTILITY, url, host.connection_json))
    finally:
        held = host.stop()
        dbs.drop(url)
    return {"backlog": backlog, "peak_rss_mb": finished.peak_rss_mb, "counts": finished.result["counts"],
            "seconds": finished.result["seconds"], "jobs_at_utility": held["jobs"]}


def measure_rss(dbs: Databases, small: int, big: int) -> dict[str, Any]:
    low = cycle_over(dbs, small)
    high = cycle_over(dbs, big)
    return {"small": low, "big": high, "ratio": high["peak_rss_mb"] / low["peak_rss_mb"]}
