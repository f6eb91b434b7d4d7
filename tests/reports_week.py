"""A generated week of requests whose report figures the tests know without asking the code under test.

Every request is planned first (registration, deadline, an optional extension, the status changes
with their times, an optional link to an outage or an open job); the plan is written to the database
as the contact centre and the syncs would have written it (requests + request_history), and the
expected figures are computed from the plan alone.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from gateway.models import Announcement, Request, RequestHistory
from gateway.reference_data import items_by_code

# The week of Monday 23.11.2026 to Sunday 29.11.2026 in Kyiv (UTC+2 then).
WEEK_START = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)
WEEK_END = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
CLOSED_STATUSES = {"done", "confirmed", "not_competence", "duplicate", "false_call", "consultation", "withdrawn"}
# executor -> (actor writing its statuses, classifier codes)
EXECUTORS = {
    "vodokanal": ("sync:vodokanal", ["3.1", "3.11", "32.2"]),
    "dri": ("operator:koval", ["1.1", "2.3"]),
    "sitiservice": ("operator:melnyk", ["3.22", "3.24"]),
    "animals_center": ("operator:savchuk", ["1.4"]),
}


@dataclass
class Plan:
    number: str
    executor: str
    code: str
    registered_at: datetime
    deadline_at: datetime
    actor: str
    events: list[tuple[datetime, str]] = field(default_factory=list)  # (at, new status), in time order
    extended_to: datetime | None = None
    link: tuple[datetime, str] | None = None  # (at, "outage" | "open_job")


def plan_week(seed: int = 1520) -> list[Plan]:
    rng = random.Random(seed)
    plans: list[Plan] = []
    for executor, (actor, codes) in EXECUTORS.items():
        for _ in range(rng.randint(14, 26)):
            registered = WEEK_START - timedelta(days=2) + timedelta(hours=rng.uniform(0, 9 * 24 - 2))
            hours = rng.choice([2, 24, 72])
            plan = Plan(f"1520-2026-{len(plans) + 1:06d}", executor, rng.choice(codes), registered,
                        registered + timedelta(hours=hours), actor)
            if rng.random() < 0.2:
                plan.extended_to = plan.deadline_at + timedelta(hours=48)
            due = plan.extended_to or plan.deadline_at
            span = (due - registered).total_seconds() / 3600
            plan.events.append((registered + timedelta(minutes=5), "sent_to_executor"))
            plan.events.append((registered + timedelta(minutes=20), "in_progress"))
            outcome = rng.choices(["done", "confirmed", "rework", "open", "other"], [0.4, 0.15, 0.15, 0.2, 0.1])[0]
            if outcome in ("done", "confirmed"):
                plan.events.append((registered + timedelta(hours=span * rng.uniform(0.3, 1.7)), "done"))
            if outcome == "confirmed":  # the resident confirms later: the work ended when it was done
                plan.events.append((plan.events[-1][0] + timedelta(hours=rng.uniform(1, 60)), "confirmed"))
            elif outcome == "rework":
                first = registered + timedelta(hours=span * rng.uniform(0.2, 0.8))
                plan.events += [(first, "done"), (first + timedelta(hours=1), "rework"),
                                (first + timedelta(hours=1 + rng.uniform(1, 40)), "done")]
            elif outcome == "other":
                plan.events.append((registered + timedelta(hours=1), rng.choice(["consultation", "not_competence"])))
            if rng.random() < 0.15 and executor != "animals_center":
                plan.link = (registered + timedelta(minutes=2), rng.choice(["outage", "open_job"]))
            plans.append(plan)
    # closed long before the week: in no figure
    plans.append(Plan("1520-2026-900001", "dri", "1.1", WEEK_START - timedelta(days=20),
                      WEEK_START - timedelta(days=15), "operator:koval",
                      [(WEEK_START - timedelta(days=19), "done")]))
    return plans


def write_week(session: Session, plans: list[Plan]) -> None:
    items = items_by_code(session)
    for plan in plans:
        final = plan.events[-1][0] if plan.events else plan.registered_at
        request = Request(
            number=plan.number, registered_at=plan.registered_at, channel="phone",
            classifier_item_id=items[plan.code].id, street="вул. Соборності", house="7", flat="12",
            description="тестова заявка", contact_name="Олена Коваленко", contact_phone="+380671112233",
            executor_id=plan.executor, status=plan.events[-1][1] if plan.events else "registered",
            deadline_at=plan.deadline_at, extended_deadline_at=plan.extended_to,
            extension_reason="потрібна техніка" if plan.extended_to else None,
            extended_by="operator:koval" if plan.extended_to else None,
            extended_at=plan.registered_at + timedelta(minutes=30) if plan.extended_to else None,
            updated_at=final,
        )
        session.add(request)
        session.flush()
        rows = [(plan.registered_at, "operator:demo", "status", None, "registered")]
        previous = "registered"
        for at, status in plan.events:
            rows.append((at, plan.actor, "status", previous, status))
            previous = status
        if plan.link:
            at, kind = plan.link
            rows.append((at, plan.actor, "link", None,
                         "announcement vodokanal/N-1" if kind == "outage" else "request 1520-2026-000001"))
        for at, actor, field_name, old, new in sorted(rows, key=lambda r: r[0]):
            session.add(RequestHistory(request_id=request.id, at=at, actor=actor, field=field_name, old_value=old,
                                       new_value=new))


# planned works notices: (provider, kind, published_at, late)
NOTICES = [
    ("vodokanal", "planned", WEEK_START + timedelta(days=1), True),
    ("vodokanal", "planned", WEEK_START + timedelta(days=2), True),
    ("vodokanal", "planned", WEEK_START + timedelta(days=3), False),
    ("vodokanal", "planned", WEEK_START - timedelta(days=1), True),  # before the week
    ("vodokanal", "emergency", WEEK_START + timedelta(days=1), False),  # emergencies are not notices
    ("teplotsentral", "planned", WEEK_START + timedelta(days=4), False),
]


def write_notices(session: Session) -> None:
    for n, (provider, kind, published, late) in enumerate(NOTICES):
        session.add(Announcement(
            provider=provider, notice_id=f"N-{n}", revision=1, kind=kind, service="cold_water", addresses=[],
            unparsed_lines=[], starts_at=published + timedelta(days=3), state="active", late_notice=late,
            announced_at=published, title_uk="Планові роботи", body_uk="Текст", structured={},
            published_at=published, updated_at=published,
        ))


def nearest_rank_p90(values: list[float]) -> float | None:
    return sorted(values)[math.ceil(0.9 * len(values)) - 1] if values else None


def expected_figures(plans: list[Plan]) -> dict[str, dict[str, object]]:
    """The week's figures per executor, from the plan only."""
    out: dict[str, dict[str, object]] = defaultdict(lambda: Counter())
    durations: dict[str, list[float]] = defaultdict(list)
    overdue: dict[str, set[str]] = defaultdict(set)
    for p in plans:
        row = out[p.executor]
        due = p.extended_to or p.deadline_at
        if WEEK_START <= p.registered_at < WEEK_END:
            row["received"] += 1
        row["rework"] += sum(1 for at, s in p.events if s == "rework" and WEEK_START <= at < WEEK_END)
        before_end = [(at, s) for at, s in p.events if at < WEEK_END]
        status = before_end[-1][1] if before_end else "registered"
        if status in CLOSED_STATUSES:
            closed_at = next(at for i, (at, s) in enumerate(before_end)
                             if all(t in CLOSED_STATUSES for _, t in before_end[i:]))
            if closed_at >= WEEK_START:
                durations[p.executor].append((closed_at - p.registered_at).total_seconds() / 3600)
                row["done_on_time" if closed_at <= due else "done_late"] += 1
        elif p.registered_at < WEEK_END:
            row["open"] += 1
            if due < WEEK_END:
                row["open_overdue"] += 1
                overdue[p.executor].add(p.number)
        if p.link and WEEK_START <= p.link[0] < WEEK_END:
            row["repeat_" + p.link[1]] += 1
    for provider, kind, published, late in NOTICES:
        if kind == "planned" and WEEK_START <= published < WEEK_END:
            out[provider]["planned_notices"] += 1
            out[provider]["late_notices"] += late
    result = {}
    for executor, row in out.items():
        values = durations[executor]
        due = row["done_on_time"] + row["done_late"] + row["open_overdue"]
        result[executor] = {
            **{k: row[k] for k in ("received", "done_on_time", "done_late", "open", "open_overdue", "rework",
                                   "repeat_outage", "repeat_open_job", "planned_notices", "late_notices")},
            "median": statistics.median(values) if values else None,
            "p90": nearest_rank_p90(values),
            "share": row["done_on_time"] / due if due else None,
            "overdue_numbers": overdue[executor],
        }
    return result


def expected_repeats_by_item(plans: list[Plan]) -> dict[tuple[str, str], dict[str, int]]:
    found: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"outage": 0, "open_job": 0})
    for p in plans:
        if p.link and WEEK_START <= p.link[0] < WEEK_END:
            found[(p.executor, p.code)][p.link[1]] += 1
    return dict(found)
