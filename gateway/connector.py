"""The connector interface: what the sync engine asks of every utility's system.

A connector is small: it turns these calls into the utility's protocol and every failure into one of
the classes in ``gateway.errors``. It keeps no database state; cursors, dispatches and dead letters
belong to the engine. Test doubles of this interface are how the core is tested alone.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from gateway.addresses import StreetHouses
from gateway.connections import ConnectionConfig

Priority = Literal["emergency", "urgent", "normal"]
UpdateKind = Literal["rework", "withdrawn", "details", "closed"]
Service = Literal["cold_water", "sewage", "heating", "hot_water", "waste_collection"]


@dataclass(frozen=True)
class Timeouts:
    """Every network call has both; seconds."""

    connect: float = 5.0
    read: float = 30.0


@dataclass(frozen=True)
class JobDraft:
    """A contact-centre request as one utility job. Only the fields its mapping allows are filled."""

    reference: str  # our reference: the request's public number
    idempotency_key: str  # stable across every retry of this dispatch
    classifier_code: str
    job_type: str
    priority: Priority
    street: str
    house: str
    description: str
    reported_at: datetime  # aware
    deadline_at: datetime | None = None
    flat: str | None = None
    lat: float | None = None
    lon: float | None = None
    contact_phone: str | None = None  # None unless the mapping sends it


@dataclass(frozen=True)
class CreateResult:
    """What a create returned: the job id, or a token when the utility creates asynchronously."""

    job_id: str | None = None
    pending_token: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if not (self.job_id or self.pending_token):
            raise ValueError("a create result needs a job id or a pending token")


@dataclass(frozen=True)
class RemoteJob:
    """A job as the utility reports it when looked up."""

    job_id: str
    reference: str | None
    status: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class StatusChange:
    """One status change from the utility's feed.

    ``changed_at`` (aware) orders changes of a job; ``position`` breaks ties (the feed's sequence
    number where the utility has one, else 0). ``change_id`` identifies the change for dedupe.
    """

    change_id: str
    job_id: str
    status: str
    changed_at: datetime
    position: int = 0
    reference: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class RejectedItem:
    """An item of a batch the connector could not read; kept for a person to see and replay."""

    key: str  # what: the item's id if it had one, else its position
    error: str  # why, naming the field
    payload: Any = None  # as received (text or parsed), secrets never included


@dataclass
class ChangePage:
    changes: list[StatusChange]
    next_cursor: str | None
    has_more: bool = False
    rejects: list[RejectedItem] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedWork:
    """A notice of planned or emergency works (or a waste schedule change) as the utility sent it."""

    notice_id: str
    revision: int
    kind: Literal["planned", "emergency"]
    service: Service
    starts_at: datetime  # aware
    ends_at: datetime | None  # None: until the works are finished
    addresses: tuple[StreetHouses, ...] = ()
    unparsed_lines: tuple[str, ...] = ()  # free-text lines that could not be read: kept verbatim
    reason: str | None = None
    households: int | None = None
    tanker_location: str | None = None
    contact_phone: str | None = None  # the utility's public hotline, not a resident's
    district: str | None = None
    original_date: datetime | None = None  # waste schedule changes: the date that moved
    cancelled: bool = False
    announced_at: datetime | None = None  # when the utility first published it


@dataclass
class WorksPage:
    works: list[PlannedWork]
    rejects: list[RejectedItem] = field(default_factory=list)


@dataclass(frozen=True)
class JobUpdate:
    """A contact-centre event the utility must hear about."""

    kind: UpdateKind
    text: str
    at: datetime


class Connector(abc.ABC):
    """One utility's system. Subclasses set ``statuses`` to every status the utility can report,
    so a mapping that forgets one is refused at load time."""

    statuses: ClassVar[frozenset[str]]
    idempotent_create: ClassVar[bool] = False  # True when a repeated create cannot make a second job
    # True when the feed's ``position`` is the utility's own sequence: it, not ``changed_at``, orders
    # a job's changes (a backdated change with a higher sequence is the newer one).
    feed_sequenced: ClassVar[bool] = False

    def __init__(self, connection: ConnectionConfig, *, timeouts: Timeouts | None = None) -> None:
        self.connection = connection
        self.timeouts = timeouts or Timeouts()

    @abc.abstractmethod
    def create_job(self, job: JobDraft) -> CreateResult: ...

    @abc.abstractmethod
    def find_jobs(self, reference: str) -> Sequence[RemoteJob]:
        """Every job the utility holds under our reference (the proof a create went through)."""

    def resolve_pending(self, token: str) -> RemoteJob | None:
        """For utilities that create asynchronously: the job behind a token, or None if not yet."""
        raise NotImplementedError(f"{type(self).__name__} creates jobs synchronously")

    @abc.abstractmethod
    def fetch_changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Status changes after ``cursor`` (None: from the beginning the utility keeps)."""

    @abc.abstractmethod
    def push_update(self, job_id: str, update: JobUpdate) -> None: ...

    def job_known(self, job_id: str, reference: str) -> bool:
        """Does the utility still hold ``job_id``? (the periodic reconciliation of sent jobs). The default
        looks the job up by our reference; a utility whose lookup cannot see every job (a recent window
        only) answers by the job's own id instead."""
        return any(job.job_id == job_id for job in self.find_jobs(reference))

    def close_job(self, job_id: str, update: JobUpdate) -> None:
        """The contact centre closed the request (a duplicate, not the utility's, a false call...):
        cancel the job where the utility's protocol can, else tell it in a note. The default sends
        the closure (kind ``closed``, its reason in the text) as a note."""
        self.push_update(job_id, update)

    def fetch_planned_works(self, since: datetime, until: datetime) -> WorksPage:
        """Planned and emergency works announced for [since, until]. Optional: a utility that publishes
        none leaves ``planned_works`` out of its manifest's ``streams`` and nothing calls this."""
        raise NotImplementedError(f"{type(self).__name__} has no planned-works stream")

    @classmethod
    def has_planned_works(cls) -> bool:
        """True when the connector implements the optional planned-works stream."""
        return cls.fetch_planned_works is not Connector.fetch_planned_works

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions; the default has nothing to release."""
