"""Bounded retries with jittered exponential backoff that honour the utility's Retry-After."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from gateway.errors import RetriableError

T = TypeVar("T")
_JITTER = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # calls in all, the first included
    initial: float = 0.5  # seconds; the backoff doubles from here, with full jitter
    maximum: float = 20.0  # cap of one backoff wait
    max_retry_after: float = 60.0  # a Retry-After longer than this ends the retries for this run
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the ``attempt``-th retry (1-based)."""
        return _JITTER.uniform(0, min(self.maximum, self.initial * 2 ** (attempt - 1)))


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), policy.max_retry_after)
        return policy.backoff(state.attempt_number)

    return wait


def _stop(policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
    by_count = stop_after_attempt(policy.attempts)

    def stop(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > policy.max_retry_after:
            return True  # the utility asks for a longer pause than a run should sit through
        return by_count(state)

    return stop


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    retry_on: tuple[type[BaseException], ...] = (RetriableError,),
) -> T:
    """Call ``fn``; repeat it on ``retry_on`` errors within the policy, then re-raise the last one."""
    retrying = Retrying(
        stop=_stop(policy),
        wait=_wait(policy),
        retry=retry_if_exception_type(retry_on),
        reraise=True,
        sleep=policy.sleep,
    )
    return retrying(fn)
