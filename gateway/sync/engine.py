"""Run a utility's sync steps: the one entry point the DAGs and the ``gateway`` command call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from gateway.breaker import HALF_OPEN, after_step, before_step
from gateway.errors import AmbiguousError, FatalError, RetriableError, error_class_name
from gateway.sync.bookkeeping import record_run
from gateway.sync.context import SyncContext
from gateway.sync.planned import pull_planned_works
from gateway.sync.pull import pull_status_changes
from gateway.sync.push import push_new_requests
from gateway.sync.updates import push_updates

Step = Callable[[SyncContext, Counter[str]], None]

# Step names come from gateway.registry.STEP_BY_STREAM (what the DAGs know without importing this).
STEPS: dict[str, Step] = {
    "push_jobs": push_new_requests,
    "pull_status_changes": pull_status_changes,
    "push_updates": push_updates,
    "pull_planned_works": pull_planned_works,
}


def run_step(ctx: SyncContext, step: str) -> dict[str, int]:
    """Run one step behind the utility's circuit breaker, record it in gw_sync_runs, and return its
    counts (what the DAG shows). An open breaker makes the step a quick no-op that says so."""
    fn = STEPS[step]
    with record_run(ctx.sessions, ctx.provider, step) as counts:
        with ctx.sessions.begin() as session:
            allowed, row = before_step(session, ctx.provider, ctx.clock())
            state, failures, next_probe = row.state, row.consecutive_failures, row.next_probe_at
        if not allowed:
            counts["circuit_open"] = 1
            ctx.log.warning("%s %s: circuit open after %d failed steps; not calling the utility until %s",
                            ctx.provider, step, failures, next_probe)
            return dict(counts)
        if state == HALF_OPEN:
            ctx.log.info("%s %s: circuit half-open, this step probes the utility", ctx.provider, step)
        try:
            fn(ctx, counts)
        except (RetriableError, AmbiguousError, FatalError) as exc:
            with ctx.sessions.begin() as session:
                after_step(session, ctx.provider, ctx.clock(), ctx.breaker, failed=True,
                           error=f"{step}: {error_class_name(exc)}: {exc}")
            raise
        with ctx.sessions.begin() as session:
            after_step(session, ctx.provider, ctx.clock(), ctx.breaker, failed=False)
    ctx.log.info("%s %s: %s", ctx.provider, step, dict(counts) or "nothing to do")
    return dict(counts)


def run_all(ctx: SyncContext) -> dict[str, dict[str, int]]:
    return {step: run_step(ctx, step) for step in ctx.manifest.steps}
