"""backlog_100k_s and backlog_utilisation: a backlog spread over the three utilities in the city's
proportions, each utility's push cycles in a process of its own (as Airflow runs one DAG per
utility), each simulator in its own process too.

The cycles repeat until the backlog is cleared or the time budget is spent; a cycle that has begun
is let finish. When the budget ends first, backlog_100k_s is projected from each utility's achieved
rate (the slowest utility decides) and the result says so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bench.databases import Databases
from bench.processes import SimHost, start_cycle, wait_cycle
from bench.world import UTILITIES, dispatch_states, fill
from gateway.db import make_engine, session_factory
from gateway.models import Request

TARGET = 100_000
ECOSPECTRANS_LIMIT = 5.0  # requests per second per client, the utility's published limit


def measure_backlog(dbs: Databases, count: int, budget: float, allowed: dict[str, float | None]) -> dict[str, Any]:
    url = dbs.fresh()
    fill(url, count, executors=set(UTILITIES), spread=timedelta(hours=1))
    engine = make_engine(url)
    with session_factory(engine)() as session:
        share = dict(session.execute(select(Request.executor_id, func.count()).group_by(Request.executor_id))
                     .tuples().all())
    hosts = {name: SimHost(name) for name in UTILITIES}
    try:
        processes = {name: start_cycle(name, url, host.connection_json, "--steps", "push_jobs", "--budget",
                                       str(budget)) for name, host in hosts.items()}
        finished = {name: wait_cycle(process) for name, process in processes.items()}
    finally:
        held = {name: host.stop() for name, host in hosts.items()}
    per_utility = {}
    for name in UTILITIES:
        counts, seconds = finished[name].result["counts"], finished[name].result["seconds"]
        settled = counts.get("created", 0) + counts.get("linked", 0)
        rate = settled / seconds if seconds else 0.0
        limit = ECOSPECTRANS_LIMIT if name == "ecospectrans" else allowed.get(name)
        per_utility[name] = {
            "requests": share.get(name, 0), "settled": settled, "seconds": seconds, "per_s": rate,
            "allowed_per_s": limit, "utilisation": rate / limit if limit else None,
            "cycles": finished[name].result["cycles"], "jobs_at_utility": held[name]["jobs"],
            "dispatches": dispatch_states(engine, name),
        }
    engine.dispose()
    dbs.drop(url)
    cleared = all(u["settled"] >= u["requests"] for u in per_utility.values())
    scale = TARGET / count
    if cleared and count == TARGET:
        seconds, projected = max(u["seconds"] for u in per_utility.values()), False
    else:
        rates = {n: u["per_s"] for n, u in per_utility.items()}
        seconds = max((u["requests"] * scale / rates[n]) if rates[n] else float("inf")
                      for n, u in per_utility.items())
        projected = True
    return {"requests": count, "budget_s": budget, "cleared": cleared, "projected": projected,
            "backlog_100k_s": seconds, "utilities": per_utility,
            "utilisation": {n: u["utilisation"] for n, u in per_utility.items()}}
