"""push_growth_ratio: the gateway's cost per pushed request with many requests open across the
classifier (the same-problem check reads them) divided by the same push over a small database."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from bench.databases import Databases
from bench.push import PROGRESSED
from bench.world import drain, fill, gateway_context, push_finished, start_simulator
from gateway.db import make_engine

UTILITY = "vodokanal"


def push_over(dbs: Databases, open_requests: int, count: int) -> dict[str, Any]:
    url = dbs.fresh()
    started = time.perf_counter()
    fill(url, open_requests, life="open", spread=timedelta(hours=72), ago=timedelta(minutes=30))
    generated = time.perf_counter() - started
    fill(url, count, executors={UTILITY}, seed=11, spread=timedelta(minutes=20))
    sim = start_simulator(UTILITY)
    engine = make_engine(url)
    try:
        ctx = gateway_context(UTILITY, sim, engine)
        drained = drain(ctx, "push_jobs", progressed=PROGRESSED,
                        finished=push_finished(engine, UTILITY))
        ctx.connector.close()
    finally:
        sim.stop()
        engine.dispose()
        dbs.drop(url)
    settled = drained.counts["created"] + drained.counts["linked"]
    return {"open": open_requests, "generate_seconds": generated, "pushed": count, "created": drained.counts["created"],
            "linked": drained.counts["linked"], "seconds": drained.seconds,
            "ms_per_request": 1000 * drained.seconds / max(1, settled)}


def measure_push_growth(dbs: Databases, small: int, big: int, count: int) -> dict[str, Any]:
    low = push_over(dbs, small, count)
    high = push_over(dbs, big, count)
    return {"small": low, "big": high, "ratio": high["ms_per_request"] / low["ms_per_request"]}
