"""The parts a measurement puts together: a utility's simulator, the contact-centre database filled
by the bulk generator, and the gateway's own sync steps run until they have nothing left to do."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, exists, func, select

from gateway.db import make_engine, session_factory, utcnow
from gateway.demo_data import Life, bulk_generate
from gateway.models import Cursor, Dispatch, Executor, Request
from gateway.registry import Manifest, load_registry
from gateway.sync.context import SyncContext, build_context
from gateway.sync.engine import run_step

UTILITIES = ("vodokanal", "teplotsentral", "ecospectrans")
ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".bench"  # Airflow's home, logs (ignored by git)


def manifest(name: str) -> Manifest:
    return load_registry()[name]


def start_simulator(name: str, seed: int = 1520):
    """The utility's simulator on an ephemeral loopback port, without deliberate late writes."""
    sim = manifest(name).simulator_class()(seed=seed).start()
    sim.prompt()
    return sim


def fill(url: str, count: int, *, executors: set[str] | None = None, life: Life = "registered",
         spread: timedelta = timedelta(hours=6), seed: int = 1520, ago: timedelta = timedelta(0)) -> list[int]:
    """``count`` generated requests (their history and dispatches too); returns their ids."""
    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as session:
            return bulk_generate(session, count, now=utcnow() - ago, seed=seed, spread=spread, executors=executors,
                                 life=life).request_ids
    finally:
        engine.dispose()


@dataclass
class Drained:
    seconds: float
    counts: Counter[str]
    runs: int


def gateway_context(name: str, sim, engine: Engine, **options) -> SyncContext:
    options.setdefault("pending_interval", 0.2)
    return build_context(manifest(name), sim.connection_config(), engine, **options)


def drain(ctx: SyncContext, step: str, *, progressed: tuple[str, ...], finished: Callable[[], bool] | None = None,
          max_runs: int = 10_000) -> Drained:
    """Run ``step`` again and again, as successive scheduled runs would, until ``finished()`` says
    all is done or a run moves nothing (none of the ``progressed`` counts). The engine caps what
    one run takes; this is how a backlog is worked off."""
    total: Counter[str] = Counter()
    started, runs = time.perf_counter(), 0
    while runs < max_runs:
        counts = run_step(ctx, step)
        runs += 1
        total.update(counts)
        if not any(counts.get(key) for key in progressed) or (finished is not None and finished()):
            break
    return Drained(time.perf_counter() - started, total, runs)


def dispatch_states(engine: Engine, provider: str) -> dict[str, int]:
    with session_factory(engine)() as session:
        return dict(session.execute(select(Dispatch.state, func.count()).where(Dispatch.provider == provider)
                                    .group_by(Dispatch.state)).tuples().all())


def calls(sim, method: str, path: str, since: float = 0.0) -> int:
    """Requests the simulator received on ``method path`` after monotonic time ``since``."""
    return sum(1 for at, m, p in list(sim.request_log) if at >= since and m == method and p.rstrip("/") == path)


def push_finished(engine: Engine, provider: str) -> Callable[[], bool]:
    """True once no request of the utility waits for a dispatch and no dispatch is due."""

    def check() -> bool:
        with session_factory(engine)() as session:
            waiting = session.scalar(
                select(func.count()).select_from(Request).join(Executor, Executor.id == Request.executor_id)
                .where(Executor.integration == provider, Request.status == "registered",
                       ~exists().where(Dispatch.request_id == Request.id, Dispatch.provider == provider)))
            due = session.scalar(select(func.count()).select_from(Dispatch).where(
                Dispatch.provider == provider, Dispatch.state.in_(("pending", "in_flight", "unknown", "awaiting"))))
        return not waiting and not due

    return check


def pull_finished(engine: Engine, provider: str, last: str) -> Callable[[], bool]:
    """True once the utility's change cursor stands at ``last``."""

    def check() -> bool:
        with session_factory(engine)() as session:
            row = session.get(Cursor, (provider, "status_changes"))
        return row is not None and row.value == last

    return check
