"""pull_ratio and pull_growth_ratio: status changes applied per second by the gateway, against a
bare paged fetch plus one bulk upsert, and against itself over a database a hundred times bigger."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import select

from bench.databases import Databases
from bench.reference import bare_rest_push, bulk_upsert, fetch_feed, libpq_dsn
from bench.world import calls, drain, fill, gateway_context, manifest, pull_finished, start_simulator
from gateway.db import make_engine, session_factory
from gateway.models import ClassifierItem, Dispatch, Request
from gateway.sync.context import load_manifest_mapping
from simulators.vodokanal import VodokanalSimulator

UTILITY = "vodokanal"
CHANGES_PER_JOB = 4  # NEW, ACCEPTED, CREW_ASSIGNED, IN_PROGRESS, COMPLETED; some end sooner


def prepare_feed(url: str, sim: VodokanalSimulator, changes: int, *, seed: int = 7) -> int:
    """Jobs at the utility for requests already sent (their dispatches hold the job ids), moved on
    until the feed holds at least ``changes`` changes; returns how many it holds."""
    ids = fill(url, math.ceil(changes / CHANGES_PER_JOB), executors={UTILITY}, life="open", seed=seed,
               spread=timedelta(hours=2))
    mapping = load_manifest_mapping(manifest(UTILITY))
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(Dispatch.id, Request.number, Request.street, Request.house, Request.description,
                       Request.registered_at, ClassifierItem.key)
                .join(Request, Request.id == Dispatch.request_id).join(ClassifierItem)
                .where(Dispatch.provider == UTILITY, Request.id.between(min(ids), max(ids)))
                .order_by(Dispatch.id)).all()
    finally:
        engine.dispose()
    bodies = []
    for row in rows:
        rule = mapping.rule_for_item(row.key)
        bodies.append({"external_ref": row.number, "job_type": rule.job_type, "priority": rule.priority,
                       "address": {"street": row.street, "house": row.house}, "description": row.description,
                       "reported_at": row.registered_at.isoformat()})
    bare_rest_push(sim.url, sim.api_key, bodies)
    job_of = {ref: ids[0] for ref, ids in sim.jobs_by_reference().items()}
    with psycopg.connect(libpq_dsn(url)) as conn, conn.cursor() as cur:
        cur.executemany("UPDATE gw_dispatches SET job_id = %s WHERE id = %s",
                        [(job_of[row.number], row.id) for row in rows])
    while sim.last_seq() < changes:
        before = sim.last_seq()
        sim.advance()
        if sim.last_seq() == before:
            break
    return sim.last_seq()


def gateway_pull(url: str, sim: VodokanalSimulator) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        ctx = gateway_context(UTILITY, sim, engine)
        since = time.monotonic()
        drained = drain(ctx, "pull_status_changes", progressed=("received",),
                        finished=pull_finished(engine, UTILITY, str(sim.last_seq())))
        ctx.connector.close()
        return {"seconds": drained.seconds, "received": drained.counts["received"],
                "applied": drained.counts["applied"], "pages": drained.counts["pages"], "runs": drained.runs,
                "feed_calls": calls(sim, "GET", "/api/v1/work-orders/changes", since)}
    finally:
        engine.dispose()


def reference_pull(url: str, sim: VodokanalSimulator) -> dict[str, Any]:
    mapping = load_manifest_mapping(manifest(UTILITY))
    since = time.monotonic()
    started = time.perf_counter()
    items, last = fetch_feed(sim.url, sim.api_key, manifest(UTILITY).batch_size)
    fetched = time.perf_counter() - started
    bulk_upsert(libpq_dsn(url), UTILITY, items, {s: mapping.status_for(s) for s in {i["status"] for i in items}},
                str(last))
    return {"seconds": time.perf_counter() - started, "fetch_seconds": fetched, "received": len(items),
            "feed_calls": calls(sim, "GET", "/api/v1/work-orders/changes", since)}


def measure_pull(dbs: Databases, changes: int) -> dict[str, Any]:
    """Two identical databases and one feed: the gateway pulls it into one, the reference into the other."""
    sim = start_simulator(UTILITY)
    try:
        url = dbs.fresh()
        in_feed = prepare_feed(url, sim, changes)
        twin = dbs.copy_of(url)
        gateway = gateway_pull(url, sim)
        reference = reference_pull(twin, sim)
    finally:
        sim.stop()
    for used in (url, twin):
        dbs.drop(used)
    gateway_rate = gateway["received"] / gateway["seconds"]
    reference_rate = reference["received"] / reference["seconds"]
    return {"changes": in_feed, "gateway": gateway, "reference": reference, "gateway_per_s": gateway_rate,
            "reference_per_s": reference_rate, "ratio": gateway_rate / reference_rate}


def pull_over(dbs: Databases, background: int, changes: int) -> dict[str, Any]:
    """The gateway's pull of ``changes`` new changes with ``background`` aged requests (a year of
    them, with their history and dispatches) already in the database."""
    url = dbs.fresh()
    started = time.perf_counter()
    fill(url, background, life="aged", spread=timedelta(days=365), ago=timedelta(hours=3))
    generated = time.perf_counter() - started
    sim = start_simulator(UTILITY)
    try:
        in_feed = prepare_feed(url, sim, changes)
        gateway = gateway_pull(url, sim)
    finally:
        sim.stop()
        dbs.drop(url)
    return {"background": background, "generate_seconds": generated, "changes": in_feed, "gateway": gateway,
            "ms_per_change": 1000 * gateway["seconds"] / max(1, gateway["received"])}


def measure_pull_growth(dbs: Databases, small: int, big: int, changes: int) -> dict[str, Any]:
    low = pull_over(dbs, small, changes)
    high = pull_over(dbs, big, changes)
    return {"small": low, "big": high, "ratio": high["ms_per_change"] / low["ms_per_change"]}
