"""Run a utility's sync steps: the one entry point the DAGs and the ``gateway`` command call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

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
    """Run one step, record it in gw_sync_runs, and return its counts (what the DAG shows)."""
    fn = STEPS[step]
    with record_run(ctx.sessions, ctx.provider, step) as counts:
        fn(ctx, counts)
    ctx.log.info("%s %s: %s", ctx.provider, step, dict(counts) or "nothing to do")
    return dict(counts)


def run_all(ctx: SyncContext) -> dict[str, dict[str, int]]:
    return {step: run_step(ctx, step) for step in ctx.manifest.steps}
