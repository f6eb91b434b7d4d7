"""SQLAlchemy 2 models of the contact-centre database and, apart from it, the gateway's own state.

The contact-centre tables are what operators and residents see. The ``gw_`` tables are the gateway's
bookkeeping (dispatches, cursors, dead letters, sync runs) and could live in another schema.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every dialect (SQLite has no time zones and would return naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the gateway stores aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


# --- classifier -----------------------------------------------------------------------------------


class ClassifierVersion(Base):
    __tablename__ = "classifier_versions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. "2021-329"
    title: Mapped[str] = mapped_column(String(300))
    adopted_on: Mapped[date] = mapped_column(Date)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)


class ClassifierSection(Base):
    __tablename__ = "classifier_sections"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name_uk: Mapped[str] = mapped_column(String(200))


class ClassifierItem(Base):
    """An item's identity across versions; its code per version lives in ``classifier_codes``."""

    __tablename__ = "classifier_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    section_code: Mapped[str] = mapped_column(ForeignKey("classifier_sections.code"))
    name_uk: Mapped[str] = mapped_column(String(300))
    urgency: Mapped[str] = mapped_column(String(32))
    deadline_hours: Mapped[int] = mapped_column(Integer)
    default_executor_id: Mapped[str | None] = mapped_column(ForeignKey("executors.id"))
    seasonal: Mapped[str | None] = mapped_column(String(32))
    introduced_in: Mapped[str] = mapped_column(ForeignKey("classifier_versions.id"))

    codes: Mapped[list[ClassifierCode]] = relationship(back_populates="item")


class ClassifierCode(Base):
    __tablename__ = "classifier_codes"
    __table_args__ = (UniqueConstraint("version_id", "item_id"),)

    version_id: Mapped[str] = mapped_column(ForeignKey("classifier_versions.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("classifier_items.id"))

    item: Mapped[ClassifierItem] = relationship(back_populates="codes")


# --- executors and requests ------------------------------------------------------------------------


class Executor(Base):
    __tablename__ = "executors"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_uk: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(64))
    integration: Mapped[str | None] = mapped_column(String(64))  # connector name, None: works in the CC program
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Request(Base):
    """A resident's request (заявка)."""

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_status_executor", "status", "executor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # public number, e.g. 1520-2026-000123
    registered_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(16))  # phone | web | chatbot
    classifier_item_id: Mapped[int] = mapped_column(ForeignKey("classifier_items.id"))
    # The code the request was registered under, and in which classifier version: what the operator
    # chose, kept as it was when a later renumbering gives the item another code.
    registered_code: Mapped[str | None] = mapped_column(String(16))
    registered_classifier_version: Mapped[str | None] = mapped_column(ForeignKey("classifier_versions.id"))
    street: Mapped[str] = mapped_column(String(200))
    house: Mapped[str] = mapped_column(String(32))
    flat: Mapped[str | None] = mapped_column(String(16))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    executor_id: Mapped[str] = mapped_column(ForeignKey("executors.id"))
    status: Mapped[str] = mapped_column(String(32))
    deadline_at: Mapped[datetime]
    extended_deadline_at: Mapped[datetime | None]
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extended_by: Mapped[str | None] = mapped_column(String(100))  # who granted the one extension
    extended_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]  # when the deadline monitor found it overdue (marked once)
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id"))  # known outage
    updated_at: Mapped[datetime]

    item: Mapped[ClassifierItem] = relationship()
    executor: Mapped[Executor] = relationship()
    history: Mapped[list[RequestHistory]] = relationship(back_populates="request", order_by="RequestHistory.id")


class RequestHistory(Base):
    """Every change of a request: what, when, and by whom or which sync."""

    __tablename__ = "request_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))  # "operator:<login>", "resident", "sync:vodokanal"
    field: Mapped[str] = mapped_column(String(64))  # status, executor, details, link, ...
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)

    request: Mapped[Request] = relationship(back_populates="history")


# --- announcements ---------------------------------------------------------------------------------


class Announcement(Base):
    """A notice of planned or emergency works as residents see it (one per utility notice)."""

    __tablename__ = "announcements"
    __table_args__ = (UniqueConstraint("provider", "notice_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    notice_id: Mapped[str] = mapped_column(String(100))
    revision: Mapped[int] = mapped_column(BigInteger)  # utilities use timestamps as revisions
    kind: Mapped[str] = mapped_column(String(16))  # planned | emergency
    service: Mapped[str] = mapped_column(String(32))
    addresses: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    unparsed_lines: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int | None] = mapped_column(Integer)
    tanker_location: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(100))
    original_date: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))  # active | cancelled | expired
    late_notice: Mapped[bool] = mapped_column(Boolean, default=False)
    announced_at: Mapped[datetime | None]
    title_uk: Mapped[str] = mapped_column(Text)
    body_uk: Mapped[str] = mapped_column(Text)
    structured: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    published_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    revisions: Mapped[list[AnnouncementRevision]] = relationship(
        back_populates="announcement", order_by="AnnouncementRevision.id"
    )


class AnnouncementRevision(Base):
    __tablename__ = "announcement_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"), index=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    recorded_at: Mapped[datetime]

    announcement: Mapped[Announcement] = relationship(back_populates="revisions")


# --- gateway state ---------------------------------------------------------------------------------


class Dispatch(Base):
    """One request handed to one utility: the record that makes "never lost, never doubled" provable."""

    __tablename__ = "gw_dispatches"
    __table_args__ = (
        UniqueConstraint("request_id", "provider"),
        Index("ix_gw_dispatches_claim", "provider", "state", "next_attempt_at"),
        Index("ix_gw_dispatches_job", "provider", "job_id"),
        Index("ix_gw_dispatches_address", "provider", "address_key"),
        Index("ix_gw_dispatches_linked", "linked_dispatch_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    provider: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(64))  # our reference sent to the utility
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    job_id: Mapped[str | None] = mapped_column(String(100))
    pending_token: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))  # see gateway.sync.states (the state machine)
    state_since: Mapped[datetime | None]  # when it entered its state: every non-final state times out
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    owner: Mapped[str | None] = mapped_column(String(64))  # the claim's token; writes after a call compare it
    provider_status: Mapped[str | None] = mapped_column(String(64))
    last_change_at: Mapped[datetime | None]
    last_change_pos: Mapped[int | None] = mapped_column(Integer)
    linked_dispatch_id: Mapped[int | None] = mapped_column(ForeignKey("gw_dispatches.id"))
    address_key: Mapped[str | None] = mapped_column(String(300))  # normalised street|house, for linking
    checked_at: Mapped[datetime | None]  # a sent job last seen at the utility (reconciliation)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    request: Mapped[Request] = relationship()


class Cursor(Base):
    __tablename__ = "gw_cursors"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class DeadLetter(Base):
    """An item that could not go through, kept whole for a person to see and replay."""

    __tablename__ = "gw_dead_letters"
    __table_args__ = (UniqueConstraint("provider", "stream", "item_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(32))
    item_key: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    payload: Mapped[Any] = mapped_column(JSONType)
    error_class: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | retried | resolved | discarded
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class OutboundUpdate(Base):
    """The outbox: a contact-centre event (rework, withdrawal, details, closure) for the utility's job.

    Written in the same transaction as the change that causes it (gateway.sync.bookkeeping), so no
    event is lost between a commit and a cursor; ``dispatch_id`` is filled once the request has a job.
    Claimed like dispatches (owner + lease), delivered per job in order, with backoff and dead letters.
    """

    __tablename__ = "gw_outbound_updates"
    __table_args__ = (
        UniqueConstraint("history_id"),
        Index("ix_gw_outbound_updates_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    dispatch_id: Mapped[int | None] = mapped_column(ForeignKey("gw_dispatches.id"), index=True)
    history_id: Mapped[int] = mapped_column(ForeignKey("request_history.id"))
    kind: Mapped[str] = mapped_column(String(16))  # rework | withdrawn | details | closed
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | skipped | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    dispatch: Mapped[Dispatch | None] = relationship()
    history: Mapped[RequestHistory] = relationship()


class StepLock(Base):
    """One step of one utility at a time where the database has no advisory locks (SQLite)."""

    __tablename__ = "gw_step_locks"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    acquired_at: Mapped[datetime | None]


class SyncRun(Base):
    """One step of one sync, with its counts and duration, for operators and benchmarks."""

    __tablename__ = "gw_sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), index=True)
    step: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    outcome: Mapped[str] = mapped_column(String(16), default="running")  # running | ok | failed
    error: Mapped[str | None] = mapped_column(Text)


class CircuitBreaker(Base):
    """Per-utility circuit breaker, in the database because every Airflow task is a new process."""

    __tablename__ = "gw_circuit_breakers"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="closed")  # closed | open | half_open
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime | None]
    next_probe_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
