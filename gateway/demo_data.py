"""Realistic demo requests: across the classifier in the proportions of the city's statistics, on
real Kryvyi Rih streets, with Ukrainian descriptions. Seeded, so a demo or a test is repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.classifier import DATA_DIR
from gateway.models import ClassifierItem, Request
from gateway.reference_data import current_code, items_by_code
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
        deadline_at=registered_at + timedelta(hours=item.deadline_hours), updated_at=registered_at,
    )
    session.add(request)
    session.flush()
    add_history(session, request, actor=actor, field="status", old=None, new=RequestStatus.REGISTERED,
                at=registered_at)
    return request


def generate(session: Session, count: int, *, now: datetime, seed: int = 1520,
             spread: timedelta = timedelta(hours=6),
             on_registered: Callable[[int], None] | None = None) -> list[Request]:
    """``count`` requests registered over the ``spread`` before ``now``; ``on_registered(1)`` after
    each (a progress bar)."""
    rng = random.Random(seed)
    by_section: dict[str, list[ClassifierItem]] = {}
    for item in items_by_code(session).values():
        by_section.setdefault(item.section_code, []).append(item)
    sections = [s for s in SECTION_WEIGHTS if s in by_section]
    weights = [SECTION_WEIGHTS[s] for s in sections]
    created = []
    for _ in range(count):
        item = rng.choice(by_section[rng.choices(sections, weights)[0]])
        street = rng.choice(streets())
        detail = rng.choice(DETAILS.get(item.section_code, DETAILS["default"]))
        created.append(
            register_request(
                session, item=item, street=street.street, house=str(rng.randint(1, street.houses)),
                flat=str(rng.randint(1, 120)) if rng.random() < 0.7 else None,
                description=f"{item.name_uk[:1].upper()}{item.name_uk[1:]}, {detail}.",
                registered_at=now - spread * rng.random(),
                channel=rng.choices(list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values()))[0],
                contact_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                contact_phone=f"+38067{rng.randint(0, 9_999_999):07d}",
            )
        )
        if on_registered:
            on_registered(1)
    return created
