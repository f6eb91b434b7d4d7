"""A contact-centre database with known public content, and the public service on a real loopback port.

The outages are the demo's kind: vodokanal's cold-water stop on вул. Соборності with a water tanker,
teplotsentral's heating stop on просп. Металургів tomorrow, ecospectrans' moved collection day, one
notice cancelled and one over. The requests carry residents' names, phones and flats on purpose.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from gateway.addresses import HouseRange, StreetHouses
from gateway.announcements import upsert_notice
from gateway.connector import PlannedWork
from gateway.demo_data import register_request
from gateway.models import Dispatch, Request
from gateway.reference_data import items_by_code
from gateway.statuses import RequestStatus
from gateway.sync.bookkeeping import add_history

VODOKANAL = "КП «Кривбасводоканал»"
TEPLO = "АТ «Криворізька теплоцентраль»"
ECO = "ТОВ «Екоспецтранс»"
HOTLINE = "0 800 500 152"
TANKER = "вул. Соборності, 18 (біля першого під'їзду)"


@dataclass
class Known:
    """What the seeded database holds, for the tests to compare against."""

    now: datetime
    numbers: list[str] = field(default_factory=list)  # newest first, as Open311 lists them
    open_numbers: set[str] = field(default_factory=set)
    by_code: dict[str, set[str]] = field(default_factory=dict)
    registered: dict[str, datetime] = field(default_factory=dict)
    personal: list[str] = field(default_factory=list)  # names, phones, flats, notes that must never be published
    job_request: str = ""  # a request with an open job at vodokanal, on просп. Поштовий 5


def outages(now: datetime) -> list[tuple[str, str, PlannedWork]]:
    today9 = now.replace(hour=7, minute=0, second=0, microsecond=0)  # 09:00 Kyiv in winter
    return [
        ("vodokanal", VODOKANAL, PlannedWork(
            notice_id="PW-00001", revision=1, kind="emergency", service="cold_water",
            starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=6),
            addresses=(StreetHouses("вулиця Соборності", ranges=(HouseRange(12, 28, "even"),), houses=("31",)),
                       StreetHouses("пров. Ковальський", whole_street=True)),
            reason="порив водоводу Ø300 мм", households=420, tanker_location=TANKER, contact_phone=HOTLINE,
            announced_at=now - timedelta(hours=2))),
        ("teplotsentral", TEPLO, PlannedWork(
            notice_id="78431", revision=2, kind="planned", service="heating",
            starts_at=today9 + timedelta(days=1), ends_at=today9 + timedelta(days=1, hours=9),
            addresses=(StreetHouses("просп. Металургів", houses=("5", "7", "9а")),),
            reason="заміна засувки на тепломережі", households=180, contact_phone="(056) 404-10-10",
            announced_at=now - timedelta(days=12))),
        ("ecospectrans", ECO, PlannedWork(
            notice_id="SCH-7", revision=1, kind="planned", service="waste_collection",
            starts_at=today9 + timedelta(days=2), ends_at=None, district="Покровський",
            addresses=(StreetHouses("бульв. Вечірній", whole_street=True),
                       StreetHouses("просп. Гагаріна", ranges=(HouseRange(1, 40),))),
            original_date=today9 + timedelta(days=1), contact_phone="0 800 30 15 15",
            announced_at=now - timedelta(days=3))),
        ("teplotsentral", TEPLO, PlannedWork(  # a street whose name has an apostrophe
            notice_id="78500", revision=1, kind="planned", service="hot_water",
            starts_at=today9 + timedelta(days=3), ends_at=today9 + timedelta(days=3, hours=6),
            addresses=(StreetHouses("вул. Солов'їна", houses=("3", "5")),), contact_phone="(056) 404-10-10",
            announced_at=now - timedelta(days=14))),
        ("vodokanal", VODOKANAL, PlannedWork(
            notice_id="PW-00002", revision=3, kind="planned", service="cold_water", cancelled=True,
            starts_at=today9 + timedelta(days=1), ends_at=today9 + timedelta(days=1, hours=8),
            addresses=(StreetHouses("вул. Кобилянського", houses=("100",)),), contact_phone=HOTLINE)),
        ("vodokanal", VODOKANAL, PlannedWork(
            notice_id="PW-00003", revision=1, kind="planned", service="cold_water",
            starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1),
            addresses=(StreetHouses("вул. Тбіліська", houses=("3",)),), contact_phone=HOTLINE)),
    ]


REQUESTS = [  # (code, street, house, flat, name, phone, description, status, days ago, with an open job)
    ("3.1", "вулиця Соборності", "14", "7", "Олена Коваленко", "+380671112233",
     "Немає холодної води з ранку, Олена, кв. 7, тел. 067 111 22 33", RequestStatus.IN_PROGRESS, 0, False),
    ("3.1", "просп. Поштовий", "5", "12", "Іван Мельник", "0501234567",
     "Немає холодної води, передзвоніть 401-23-45", RequestStatus.SENT, 1, True),
    ("3.13", "просп. Металургів", "9а", "50", "Тетяна Савчук", "+380631231231",
     "Відсутнє опалення у квартирі 50", RequestStatus.DONE, 3, False),
    ("3.13", "вул. Героїв АТО", "20", None, "Микола Олійник", "0677654321",
     "Холодні батареї", RequestStatus.CONFIRMED, 10, False),
    ("4.1", "бульв. Вечірній", "3", None, "Людмила Ткаченко", "+380931112244",
     "Контейнери переповнені три дні поспіль", RequestStatus.REGISTERED, 40, False),
]


def seed(sessions: sessionmaker[Session], now: datetime, extra_requests: int = 0) -> Known:
    """The known content; ``extra_requests`` more plain ones (for paging), registered before the others."""
    known = Known(now=now)
    with sessions.begin() as session:
        for provider, title, work in outages(now):
            upsert_notice(session, provider, title, work, now)
        items = items_by_code(session)
        rows: list[tuple[Request, bool]] = []
        for n in range(extra_requests):
            request = register_request(session, item=items["3.1"], street="вул. Ватутіна", house=str(n % 50 + 1),
                                       description="Слабкий тиск води.",
                                       registered_at=now - timedelta(days=60, minutes=n))
            rows.append((request, False))
        for code, street, house, flat, name, phone, text, status, days, job in REQUESTS:
            request = register_request(session, item=items[code], street=street, house=house, flat=flat,
                                       description=text, registered_at=now - timedelta(days=days, minutes=1),
                                       contact_name=name, contact_phone=phone, lat=47.910537, lon=33.391822)
            request.status = status
            add_history(session, request, actor="sync:vodokanal", field="status", old=RequestStatus.REGISTERED,
                        new=status, at=now, note="Кривбасводоканал: job 240039, бригада Петренка")
            known.personal += [name, phone, "240039", "Петренк"]
            rows.append((request, job))
        session.flush()
        for request, job in rows:
            if job:
                session.add(Dispatch(
                    request_id=request.id, provider="vodokanal", reference=request.number,
                    idempotency_key=f"vodokanal:{request.number}", job_id="240039", state="sent",
                    next_attempt_at=now, created_at=now, updated_at=now, sent_at=now))
                known.job_request = request.number
        for request, _ in sorted(rows, key=lambda r: (r[0].registered_at, r[0].id), reverse=True):
            known.numbers.append(request.number)
            known.registered[request.number] = request.registered_at
            known.by_code.setdefault(items_code(items, request.classifier_item_id), set()).add(request.number)
            if RequestStatus(request.status) in {RequestStatus.REGISTERED, RequestStatus.SENT,
                                                 RequestStatus.IN_PROGRESS, RequestStatus.REWORK}:
                known.open_numbers.add(request.number)
    return known


def items_code(items, item_id: int) -> str:
    return next(code for code, item in items.items() if item.id == item_id)


@contextmanager
def serving(app) -> Iterator[str]:
    """The ASGI app on uvicorn at 127.0.0.1 and an ephemeral port, in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not server.started and thread.is_alive():
        started.wait(0.02)
    if not server.started:
        raise RuntimeError("the public service did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
