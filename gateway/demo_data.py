"""Realistic demo requests: across the classifier in the proportions of the city's statistics, on
real Kryvyi Rih streets, with Ukrainian descriptions. Seeded, so a demo or a test is repeatable.

``register_request`` registers one request as an operator would (the ORM, one at a time).
``bulk_generate`` builds the large databases a benchmark needs: rows are made in chunks and written
with COPY on PostgreSQL and with executemany in big batches on SQLite, numbers are read once per
year instead of once per row, and the table is locked so no operator's request takes a number
in between. It can also age the requests (sent, in progress, done, confirmed, with their history)
and give the ones of integrated executors the dispatch the gateway would have made.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from gateway.classifier import DATA_DIR
from gateway.db import is_postgres
from gateway.deadlines import deadline_for
from gateway.models import ClassifierItem, Dispatch, Executor, Request, RequestHistory
from gateway.reference_data import current_code, current_version, items_by_code
from gateway.statuses import RequestStatus
from gateway.sync.bookkeeping import add_history
from gateway.yamlfile import load_yaml

# Shares of requests by section: housing and communal services > 50 %, city upkeep 9 %, social
# protection 9 %, health 8 %, transport 6 % (decision №329, 2021); the rest spread over the others.
SECTION_WEIGHTS = {"3": 0.46, "4": 0.08, "32": 0.02, "1": 0.09, "11": 0.09, "12": 0.08, "10": 0.06,
                   "2": 0.07, "5": 0.05}
CHANNEL_WEIGHTS = {"phone": 0.87, "web": 0.13}  # 87 % of requests come by phone
FIRST_NAMES = ["Олена", "Іван", "Наталія", "Сергій", "Тетяна", "Андрій", "Ольга", "Микола", "Людмила", "Віктор"]
LAST_NAMES = ["Коваленко", "Шевченко", "Бондаренко", "Ткаченко", "Кравченко", "Мельник", "Олійник", "Савчук"]
DETAILS = {
    "3": ["з ранку", "другу добу", "у всьому під'їзді", "після ремонту на вулиці", "вже повторно"],
    "4": ["три дні поспіль", "біля дитячого майданчика", "контейнери переповнені", "за графіком мали вчора"],
    "default": ["прошу вжити заходів", "звертаюсь повторно", "ситуація триває тиждень"],
}


@dataclass(frozen=True)
class Street:
    street: str
    district: str
    houses: int


@cache
def streets() -> tuple[Street, ...]:
    return tuple(Street(s["street"], s["district"], int(s["houses"])) for s in load_yaml(DATA_DIR / "streets.yaml"))


def next_number(session: Session, year: int) -> str:
    prefix = f"1520-{year}-"
    last = session.scalar(select(func.max(Request.number)).where(Request.number.like(f"{prefix}%")))
    sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{sequence:06d}"


def register_request(
    session: Session,
    *,
    item: ClassifierItem,
    street: str,
    house: str,
    description: str,
    registered_at: datetime,
    flat: str | None = None,
    channel: str = "phone",
    contact_name: str | None = None,
    contact_phone: str | None = None,
    executor_id: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    actor: str = "operator:demo",
) -> Request:
    """Register one request as an operator would: number, deadline, executor, first history row, and the
    code (and classifier version) it is registered under."""
    code, version = current_code(session, item.id) or (None, None)
    request = Request(
        registered_code=code, registered_classifier_version=version,
        number=next_number(session, registered_at.year), registered_at=registered_at, channel=channel,
        classifier_item_id=item.id, street=street, house=house, flat=flat, lat=lat, lon=lon,
        description=description, contact_name=contact_name, contact_phone=contact_phone,
        executor_id=executor_id or item.default_executor_id, status=RequestStatus.REGISTERED,
        deadline_at=deadline_for(item, registered_at), updated_at=registered_at,
    )
    session.add(request)
    session.flush()
    add_history(session, request, actor=actor, field="status", old=None, new=RequestStatus.REGISTERED,
                at=registered_at)
    return request


Life = Literal["registered", "open", "aged"]
BULK_LOCK_KEY = 1520_0001  # pg_advisory_xact_lock key: bulk generators take turns
CHUNK = 20_000  # requests made and written at a time: memory stays flat at a million
REQUEST_COLUMNS = ("id", "number", "registered_at", "channel", "classifier_item_id", "street", "house", "flat",
                   "description", "contact_name", "contact_phone", "executor_id", "status", "deadline_at",
                   "updated_at", "registered_code", "registered_classifier_version")
HISTORY_COLUMNS = ("request_id", "at", "actor", "field", "old_value", "new_value", "note")
DISPATCH_COLUMNS = ("request_id", "provider", "reference", "idempotency_key", "job_id", "state", "attempts",
                    "next_attempt_at", "created_at", "updated_at", "sent_at", "state_since", "address_key")
# How an executor's work ends when it is over (the rest: done, then confirmed by the resident).
ENDINGS = ((RequestStatus.FALSE_CALL, 0.05), (RequestStatus.DUPLICATE, 0.03), (RequestStatus.NOT_COMPETENCE, 0.02))


@dataclass
class BulkResult:
    """What ``bulk_generate`` wrote: ids of the requests (in registration order) and row counts."""

    request_ids: list[int] = field(default_factory=list)
    history_rows: int = 0
    dispatch_rows: int = 0
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.request_ids)


@dataclass(frozen=True)
class _Item:
    id: int
    key: str
    section: str
    name_uk: str
    deadline_hours: int
    executor_id: str | None
    urgency: str
    code: str


class _Numbers:
    """Public numbers 1520-<year>-NNNNNN: the highest per year read once, then counted on."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._next: dict[int, int] = {}

    def take(self, year: int) -> str:
        if year not in self._next:
            prefix = f"1520-{year}-"
            last = self._session.scalar(select(func.max(Request.number)).where(Request.number.like(f"{prefix}%")))
            self._next[year] = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        sequence = self._next[year]
        self._next[year] = sequence + 1
        return f"1520-{year}-{sequence:06d}"


def _idempotency_key(provider: str, number: str) -> str:
    from gateway.sync.push import idempotency_key  # the engine's own key, so a replay cannot double

    return idempotency_key(provider, number)


def _address_key(street: str, house: str) -> str:
    from gateway.sync.push import address_key  # the engine's own key, so linking finds these jobs

    return address_key(street, house)


def _life_of(rng: random.Random, item: _Item, registered_at: datetime, now: datetime, life: Life,
             integration: str | None) -> list[tuple[str, datetime, str]]:
    """The status changes a request has gone through by ``now``: (status, when, actor)."""
    if life == "registered":
        return []
    handler = f"sync:{integration}" if integration else f"executor:{item.executor_id}"
    sent_at = registered_at + timedelta(seconds=rng.uniform(5, 300))
    steps = [(RequestStatus.SENT.value, min(sent_at, now), handler if integration else "operator:demo")]
    if life == "open":
        return steps
    deadline = timedelta(hours=item.deadline_hours)
    started = registered_at + deadline * rng.uniform(0.05, 0.5)
    finished = registered_at + deadline * rng.uniform(0.5, 1.3)
    if started <= now:
        steps.append((RequestStatus.IN_PROGRESS.value, started, handler))
    if finished <= now:
        draw, ending = rng.random(), RequestStatus.DONE.value
        for status, share in ENDINGS:
            if draw < share:
                ending = status.value
                break
            draw -= share
        steps.append((ending, finished, handler))
        confirmed = finished + timedelta(hours=rng.uniform(2, 48))
        if ending == RequestStatus.DONE.value and confirmed <= now and rng.random() < 0.8:
            steps.append((RequestStatus.CONFIRMED.value, confirmed, "operator:demo"))
    return steps


def _requests(session: Session, count: int, *, now: datetime, seed: int, spread: timedelta,
              executors: set[str] | None, life: Life) -> Iterator[tuple[dict[str, Any], list[tuple[str, datetime, str]],
                                                                        str | None]]:
    """Request rows (without id), each with its life and the connector serving its executor.

    The draws for a request's own fields come in the order ``generate`` always used, so a seed gives
    the demo the requests it always had; the life cycle draws from a second generator."""
    rng, life_rng = random.Random(seed), random.Random(seed + 1)
    integrations = dict(session.execute(select(Executor.id, Executor.integration)).tuples().all())
    by_section: dict[str, list[_Item]] = {}
    version = current_version(session)
    for code, item in items_by_code(session, version).items():
        if executors is not None and item.default_executor_id not in executors:
            continue
        by_section.setdefault(item.section_code, []).append(
            _Item(item.id, item.key, item.section_code, item.name_uk, item.deadline_hours, item.default_executor_id,
                  item.urgency, code))
    sections = [s for s in SECTION_WEIGHTS if s in by_section]
    if not sections:
        raise ValueError(f"no classifier item is served by the executors {sorted(executors or ())}")
    weights = [SECTION_WEIGHTS[s] for s in sections]
    numbers = _Numbers(session)
    all_streets = streets()
    channels, channel_weights = list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values())
    for _ in range(count):
        item = rng.choice(by_section[rng.choices(sections, weights)[0]])
        street = rng.choice(all_streets)
        detail = rng.choice(DETAILS.get(item.section, DETAILS["default"]))
        house = str(rng.randint(1, street.houses))
        flat = str(rng.randint(1, 120)) if rng.random() < 0.7 else None
        registered_at = now - spread * rng.random()
        channel = rng.choices(channels, channel_weights)[0]
        contact_name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        contact_phone = f"+38067{rng.randint(0, 9_999_999):07d}"
        integration = integrations.get(item.executor_id) if item.executor_id else None
        steps = _life_of(life_rng, item, registered_at, now, life, integration)
        row = {
            "number": numbers.take(registered_at.year), "registered_at": registered_at, "channel": channel,
            "classifier_item_id": item.id, "street": street.street, "house": house, "flat": flat,
            "description": f"{item.name_uk[:1].upper()}{item.name_uk[1:]}, {detail}.",
            "contact_name": contact_name, "contact_phone": contact_phone, "executor_id": item.executor_id,
            "status": steps[-1][0] if steps else RequestStatus.REGISTERED.value,
            "deadline_at": deadline_for(item, registered_at),  # type: ignore[arg-type]  (key and urgency suffice)
            "updated_at": steps[-1][1] if steps else registered_at,
            "registered_code": item.code, "registered_classifier_version": version,
        }
        yield row, steps, integration


def _reserve_ids(session: Session, count: int, state: dict[str, int]) -> list[int]:
    if is_postgres(session):
        return list(session.scalars(
            select(func.nextval(func.pg_get_serial_sequence("requests", "id"))).select_from(
                func.generate_series(1, count))))
    if "next" not in state:
        state["next"] = (session.scalar(select(func.max(Request.id))) or 0) + 1
    first = state["next"]
    state["next"] = first + count
    return list(range(first, first + count))


def _write(session: Session, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL; one executemany of the whole batch elsewhere."""
    if not rows:
        return
    if is_postgres(session):
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    model = {"requests": Request, "request_history": RequestHistory, "gw_dispatches": Dispatch}[table]
    session.execute(insert(model.__table__), [dict(zip(columns, row, strict=True)) for row in rows])


def bulk_generate(session: Session, count: int, *, now: datetime, seed: int = 1520,
                  spread: timedelta = timedelta(hours=6), executors: set[str] | None = None,
                  life: Life = "registered", dispatches: bool = True, actor: str = "operator:demo",
                  on_progress: Callable[[int], None] | None = None) -> BulkResult:
    """``count`` requests registered over the ``spread`` before ``now``, with their history.

    ``executors`` limits the items to those these executors serve (e.g. the three utilities for a
    backlog). ``life``: "registered" (nothing happened yet), "open" (every request is with its
    executor), "aged" (the older a request, the further it went: in progress, done or another
    ending, confirmed). With ``dispatches``, a request of an integrated executor that has left
    "registered" gets the dispatch the gateway would have written (sent, with a job id).
    Runs inside the caller's transaction: all or nothing. ``on_progress(n)`` after each chunk of n
    (a progress bar).
    """
    started = time.monotonic()
    session.flush()  # requests the caller added in this session take their numbers first
    if is_postgres(session):
        # Bulk writers take turns (a transaction-level advisory lock), never a table lock: operators and
        # the sync go on writing meanwhile, and a caller holding another open transaction on requests
        # cannot deadlock on us. Ids come from the sequence, so they are ours; a number an operator takes
        # meanwhile is refused by the unique key (loud, never doubled).
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BULK_LOCK_KEY})
    result, id_state = BulkResult(), {}
    made = _requests(session, count, now=now, seed=seed, spread=spread, executors=executors, life=life)
    while chunk := [entry for _, entry in zip(range(CHUNK), made, strict=False)]:
        ids = _reserve_ids(session, len(chunk), id_state)
        requests, history, sent = [], [], []
        for request_id, (row, steps, integration) in zip(ids, chunk, strict=True):
            requests.append((request_id, *(row[c] for c in REQUEST_COLUMNS[1:])))
            history.append((request_id, row["registered_at"], actor, "status", None,
                            RequestStatus.REGISTERED.value, None))
            previous = RequestStatus.REGISTERED.value
            for status, at, who in steps:
                history.append((request_id, at, who, "status", previous, status, None))
                previous = status
            if dispatches and integration and steps:
                sent_at = steps[0][1]
                sent.append((request_id, integration, row["number"], _idempotency_key(integration, row["number"]),
                             f"BULK-{request_id}", "sent", 1, sent_at, row["registered_at"], row["updated_at"],
                             sent_at, sent_at, _address_key(row["street"], row["house"])))
        _write(session, "requests", REQUEST_COLUMNS, requests)
        _write(session, "request_history", HISTORY_COLUMNS, history)
        _write(session, "gw_dispatches", DISPATCH_COLUMNS, sent)
        result.request_ids.extend(ids)
        result.history_rows += len(history)
        result.dispatch_rows += len(sent)
        if on_progress:
            on_progress(len(ids))
    result.seconds = time.monotonic() - started
    return result


def generate(session: Session, count: int, *, now: datetime, seed: int = 1520,
             spread: timedelta = timedelta(hours=6)) -> list[Request]:
    """``count`` requests registered over the ``spread`` before ``now`` (bulk-written), as objects."""
    ids = bulk_generate(session, count, now=now, seed=seed, spread=spread).request_ids
    if not ids:
        return []
    created: list[Request] = []
    for start in range(0, len(ids), 10_000):  # by our own ids: others may have written between them
        created += session.scalars(select(Request).where(Request.id.in_(ids[start:start + 10_000]))
                                   .order_by(Request.id)).all()
    return created
