"""Run a utility's sync steps: the one entry point the DAGs and the ``gateway`` command call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from gateway.breaker import HALF_OPEN, CallOutcomes, after_calls, before_step
from gateway.connector import Connector
from gateway.errors import AmbiguousError, FatalError, RetriableError, error_class_name
from gateway.sync.bookkeeping import record_run
from gateway.sync.context import SyncContext
from gateway.sync.locks import StepBusy, step_lock
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

CALLS = ("create_job", "find_jobs", "resolve_pending", "fetch_changes", "push_update", "cancel_job",
         "fetch_planned_works")
FAILED_CALL = (RetriableError, AmbiguousError, FatalError)  # the utility did not answer, or not usably


class MeteredConnector:
    """The step's connector with every call's outcome counted, for the circuit breaker: a failed call
    counts, an answer (a refusal too: the utility is up) resets, and no call changes nothing."""

    def __init__(self, inner: Connector, outcomes: CallOutcomes) -> None:
        self._inner, self._outcomes = inner, outcomes

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in CALLS or not callable(value):
            return value

        def metered(*args: Any, **kwargs: Any) -> Any:
            try:
                result = value(*args, **kwargs)
            except FAILED_CALL as exc:
                self._outcomes.failed(f"{name}: {error_class_name(exc)}: {exc}")
                raise
            except Exception:
                self._outcomes.answered()
                raise
            self._outcomes.answered()
            return result

        return metered


def run_step(ctx: SyncContext, step: str) -> dict[str, int]:
    """Run one step behind the step's lock and the utility's circuit breaker, record it in
    gw_sync_runs, and return its counts (what the DAG shows). An open breaker makes the step a quick
    no-op that says so; so does another runner holding the same step."""
    fn = STEPS[step]
    engine = ctx.sessions.kw["bind"]
    try:
        with step_lock(engine, f"{ctx.provider}:{step}", clock=ctx.clock, lease=ctx.dispatch_lease,
                       owner=ctx.owner) as held:
            ctx.held = held
            try:
                return _run_locked(ctx, step, fn)
            finally:
                ctx.held = None
    except StepBusy as busy:
        ctx.log.warning("%s %s: %s", ctx.provider, step, busy)
        return {"busy": 1}


def _run_locked(ctx: SyncContext, step: str, fn: Step) -> dict[str, int]:
    with record_run(ctx.sessions, ctx.provider, step) as counts:
        with ctx.sessions.begin() as session:
            allowed, row = before_step(session, ctx.provider, ctx.clock())
            state, failures, next_probe = row.state, row.consecutive_failures, row.next_probe_at
        if not allowed:
            counts["circuit_open"] = 1
            ctx.log.warning("%s %s: circuit open after %d failed calls; not calling the utility until %s",
                            ctx.provider, step, failures, next_probe)
            return dict(counts)
        if state == HALF_OPEN:
            ctx.log.info("%s %s: circuit half-open, this step probes the utility", ctx.provider, step)
        outcomes = CallOutcomes()
        real = ctx.connector
        ctx.connector = MeteredConnector(real, outcomes)  # type: ignore[assignment]
        try:
            fn(ctx, counts)
        finally:
            ctx.connector = real
            with ctx.sessions.begin() as session:
                after_calls(session, ctx.provider, ctx.clock(), ctx.breaker, outcomes)
    ctx.log.info("%s %s: %s", ctx.provider, step, dict(counts) or "nothing to do")
    return dict(counts)


def run_all(ctx: SyncContext) -> dict[str, dict[str, int]]:
    return {step: run_step(ctx, step) for step in ctx.manifest.steps}
