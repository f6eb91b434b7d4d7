"""What a manifest's cron schedule means in time: the gaps between its runs.

The DAGs size their retries from the shortest gap (a failing run must end before the next one is
due) and ``gateway status`` calls a utility stale after a few of its longest gaps. Pure arithmetic on
the cron string, so DAG parsing stays free of I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from croniter import croniter

from gateway.errors import ConfigError

# A fixed Monday: the gaps of a schedule do not depend on when they are computed.
_REFERENCE = datetime(2026, 1, 5, tzinfo=UTC)
_HORIZON = timedelta(days=8)  # a week and a day covers weekday-only and weekly schedules
_MAX_FIRES = 3000


@cache
def schedule_gaps(schedule: str) -> tuple[timedelta, timedelta]:
    """(shortest, longest) time between two consecutive runs of a cron ``schedule``."""
    if not croniter.is_valid(schedule):
        raise ConfigError(f"schedule {schedule!r} is not a cron expression")
    fires = croniter(schedule, _REFERENCE)
    previous = fires.get_next(datetime)
    shortest = longest = None
    for _ in range(_MAX_FIRES):
        current = fires.get_next(datetime)
        gap = current - previous
        shortest = gap if shortest is None else min(shortest, gap)
        longest = gap if longest is None else max(longest, gap)
        if current - _REFERENCE > _HORIZON:
            break
        previous = current
    assert shortest is not None and longest is not None
    return shortest, longest


def shortest_gap(schedule: str) -> timedelta:
    return schedule_gaps(schedule)[0]


def longest_gap(schedule: str) -> timedelta:
    return schedule_gaps(schedule)[1]


@dataclass(frozen=True)
class RunBudget:
    """Retries and timeouts of one sync DAG, sized so that a failing run ends before the next is due.

    Worst case, every step of the chain (they run one after another, each also after a failure) uses
    all its attempts to the timeout: ``steps * ((retries + 1) * execution_timeout + retries *
    retry_delay)`` stays within 85 % of the shortest gap, the report within 5 %, and
    ``dagrun_timeout`` (90 %) ends the run in any case. A failed step is not lost work: the next run
    resumes it, and every item keeps its own retry schedule in the database.
    """

    retries: int
    retry_delay: timedelta
    execution_timeout: timedelta
    report_timeout: timedelta
    dagrun_timeout: timedelta

    def worst_case(self, steps: int) -> timedelta:
        per_step = (self.retries + 1) * self.execution_timeout + self.retries * self.retry_delay
        return steps * per_step + self.report_timeout


def run_budget(schedule: str, steps: int, retries: int = 1) -> RunBudget:
    gap = shortest_gap(schedule)
    delay = _seconds(gap / 20)
    timeout = _seconds((gap * 0.85 - steps * retries * delay) / (steps * (retries + 1)))
    if timeout < timedelta(seconds=5):
        raise ConfigError(f"schedule {schedule!r} leaves {timeout.total_seconds():.0f} s per step attempt: "
                          "too short for a sync run; schedule it less often")
    return RunBudget(retries=retries, retry_delay=delay, execution_timeout=timeout,
                     report_timeout=_seconds(gap * 0.05), dagrun_timeout=_seconds(gap * 0.9))


def _seconds(value: timedelta) -> timedelta:
    """Whole seconds, rounded down (never over budget)."""
    return timedelta(seconds=int(value.total_seconds()))


def task_defaults(schedule: str, owner: str, steps: int = 1, cap: timedelta = timedelta(minutes=45)) -> dict:
    """default_args for a DAG that is not a sync: the same budget rule, an attempt capped at ``cap`` (a weekly
    report must not hang for days), so a run never outlasts its schedule either."""
    budget = run_budget(schedule, steps)
    return {"owner": owner, "retries": budget.retries, "retry_delay": min(budget.retry_delay, cap / 10),
            "execution_timeout": min(budget.execution_timeout, cap)}
