"""push_ratio: requests pushed per second by the gateway divided by a bare client's, same run."""

from __future__ import annotations

import time
from typing import Any

from bench.databases import Databases
from bench.reference import bare_rest_push, bare_soap_push
from bench.world import calls, dispatch_states, drain, fill, gateway_context, push_finished, start_simulator
from gateway.db import make_engine
from simulators.base import BaseSimulator

CONNECTIONS = 1  # the gateway's connector holds one keep-alive session; the reference gets as many
PROGRESSED = ("enqueued", "created", "linked")


def gateway_push(dbs: Databases, name: str, count: int, sim: BaseSimulator) -> dict[str, Any]:
    """Register ``count`` requests for the utility and let the gateway push them all."""
    url = dbs.fresh()
    fill(url, count, executors={name})
    engine = make_engine(url)
    try:
        ctx = gateway_context(name, sim, engine)
        since = time.monotonic()
        drained = drain(ctx, "push_jobs", progressed=PROGRESSED, finished=push_finished(engine, name))
        ctx.connector.close()
        method, path = sim.create_route
        return {"seconds": drained.seconds, "created": drained.counts["created"], "linked": drained.counts["linked"],
                "runs": drained.runs, "create_calls": calls(sim, method, path, since),
                "states": dispatch_states(engine, name)}
    finally:
        engine.dispose()
        dbs.drop(url)


def reference_calls(name: str, sim: BaseSimulator) -> list[dict[str, Any]]:
    """The gateway's creates exactly as the utility received them, under new references."""
    jobs = [ids[0] for _, ids in sorted(sim.jobs_by_reference().items())]
    made = []
    for job_id in jobs:
        payload = sim.job_payload(job_id)
        if name == "vodokanal":
            payload["external_ref"] = f"R-{payload['external_ref']}"
        else:
            payload["ExternalNumber"] = f"R-{payload['ExternalNumber']}"
        made.append(payload)
    return made


def reference_push(name: str, sim: BaseSimulator, payloads: list[dict[str, Any]]) -> dict[str, Any]:
    method, path = sim.create_route
    since = time.monotonic()
    config = sim.connection_config()
    if name == "vodokanal":
        seconds = bare_rest_push(sim.url, config.password, payloads, CONNECTIONS)
    else:
        seconds = bare_soap_push(config.base_url, config.login, config.password, payloads, CONNECTIONS)
    return {"seconds": seconds, "created": len(payloads), "create_calls": calls(sim, method, path, since)}


def measure_push(dbs: Databases, name: str, count: int) -> dict[str, Any]:
    """Both sides against one simulator: the gateway first, then the bare client replays its calls."""
    sim = start_simulator(name)
    try:
        gateway = gateway_push(dbs, name, count, sim)
        reference = reference_push(name, sim, reference_calls(name, sim))
    finally:
        sim.stop()
    gateway_rate = gateway["created"] / gateway["seconds"] if gateway["seconds"] else 0.0
    reference_rate = reference["created"] / reference["seconds"] if reference["seconds"] else 0.0
    return {"utility": name, "requests": count, "connections": CONNECTIONS, "gateway": gateway,
            "reference": reference, "gateway_per_s": gateway_rate, "reference_per_s": reference_rate,
            "ratio": gateway_rate / reference_rate if reference_rate else None}
