"""A test double of the connector interface, for testing the core without any utility.

It keeps jobs in memory, creates idempotently by key, and fails on demand — including the hard
case: a create that takes effect at the "utility" and then raises, as a dropped reply would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.connector import (
    ChangePage,
    Connector,
    CreateResult,
    JobDraft,
    JobUpdate,
    PlannedWork,
    RejectedItem,
    RemoteJob,
    StatusChange,
    WorksPage,
)

STATUSES = frozenset({"NEW", "WORKING", "DONE", "NOT_OURS", "CANCELLED"})


@dataclass
class ScriptedFailure:
    error: Exception
    after_effect: bool = False  # True: the job is created, then the error is raised (reply lost)


@dataclass
class FakeUtility:
    """The state shared by every FakeConnector instance (the "utility's database")."""

    jobs: dict[str, JobDraft] = field(default_factory=dict)  # job id -> draft
    by_key: dict[str, str] = field(default_factory=dict)
    changes: list[StatusChange] = field(default_factory=list)
    rejects_in_feed: list[tuple[int, RejectedItem]] = field(default_factory=list)  # (position in feed, reject)
    updates: list[tuple[str, JobUpdate]] = field(default_factory=list)
    works: list[PlannedWork] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> job id, once created
    create_failures: list[ScriptedFailure] = field(default_factory=list)
    lookup_failures: list[Exception] = field(default_factory=list)
    failures_by_reference: dict[str, Exception] = field(default_factory=dict)
    create_calls: int = 0
    idempotent: bool = True
    asynchronous: bool = False  # True: a create answers with a token; the job appears on release()
    pending: dict[str, JobDraft] = field(default_factory=dict)  # token -> draft, not a job yet
    resolve_calls: int = 0
    create_gate: Callable[[JobDraft], None] | None = None  # called inside a create, before it commits
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def change(self, job_id: str, status: str, at: datetime, comment: str | None = None) -> StatusChange:
        seq = len(self.changes) + 1
        item = StatusChange(change_id=str(seq), job_id=job_id, status=status, changed_at=at, position=seq,
                            reference=self.jobs[job_id].reference, comment=comment)
        self.changes.append(item)
        return item

    def release(self, token: str | None = None) -> None:
        """Finish asynchronous creations (all, or one token's)."""
        for key in [token] if token else list(self.pending):
            draft = self.pending.pop(key)
            job_id = f"J{next(self._ids)}"
            self.jobs[job_id] = draft
            self.tokens[key] = job_id

    def jobs_for(self, reference: str) -> list[str]:
        return [job_id for job_id, d in self.jobs.items() if d.reference == reference]


class FakeConnector(Connector):
    statuses = STATUSES
    idempotent_create = True
    utility: FakeUtility  # set by the test

    def create_job(self, job: JobDraft) -> CreateResult:
        u = self.utility
        u.create_calls += 1
        if job.reference in u.failures_by_reference:
            raise u.failures_by_reference[job.reference]
        failure = u.create_failures.pop(0) if u.create_failures else None
        if failure and not failure.after_effect:
            raise failure.error
        if u.create_gate is not None:
            u.create_gate(job)
        if u.asynchronous:
            token = f"T-{job.reference}-{u.create_calls}"
            u.pending[token] = job
            return CreateResult(pending_token=token)
        if u.idempotent and job.idempotency_key in u.by_key:
            job_id = u.by_key[job.idempotency_key]
        else:
            job_id = f"J{next(u._ids)}"
            u.jobs[job_id] = job
            u.by_key[job.idempotency_key] = job_id
        if failure:
            raise failure.error
        return CreateResult(job_id=job_id, status="NEW")

    def find_jobs(self, reference: str) -> Sequence[RemoteJob]:
        if self.utility.lookup_failures:
            raise self.utility.lookup_failures.pop(0)
        return [RemoteJob(job_id=j, reference=reference) for j in self.utility.jobs_for(reference)]

    def resolve_pending(self, token: str) -> RemoteJob | None:
        u = self.utility
        u.resolve_calls += 1
        job_id = u.tokens.get(token)
        return RemoteJob(job_id=job_id, reference=u.jobs[job_id].reference) if job_id else None

    def fetch_changes(self, cursor: str | None, limit: int) -> ChangePage:
        start = int(cursor or 0)
        window = self.utility.changes[start : start + limit]
        rejects = [r for pos, r in self.utility.rejects_in_feed if start <= pos < start + limit]
        end = start + len(window)
        return ChangePage(changes=window, next_cursor=str(end), has_more=end < len(self.utility.changes),
                          rejects=rejects)

    def push_update(self, job_id: str, update: JobUpdate) -> None:
        self.utility.updates.append((job_id, update))

    def fetch_planned_works(self, since: datetime, until: datetime) -> WorksPage:
        return WorksPage(works=list(self.utility.works))


class SoapLikeFakeConnector(FakeConnector):
    """Like teplotsentral: a repeated create makes a second job (no key, no reference check)."""

    idempotent_create = False


def at(minutes: int) -> datetime:
    return datetime(2026, 11, 20, 8, 0, tzinfo=UTC) + timedelta(minutes=minutes)
