"""Notices of works as residents read them: one Ukrainian wording for every utility.

``render`` turns a PlannedWork into a title, a body and a JSON-ready dict for the city site and the
chat bots. Times are shown in Kyiv time whatever zone the utility sent; a naive time is taken as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from gateway.addresses import group_by_street, render_street_houses, street_houses_dict
from gateway.connector import PlannedWork

KYIV = ZoneInfo("Europe/Kyiv")
WASTE = "waste_collection"
TITLE_STREETS = 3  # streets named in a title before "та ще N вулиць"

SERVICE_NAMES_UK = {
    "cold_water": "холодне водопостачання",
    "sewage": "водовідведення",
    "heating": "опалення",
    "hot_water": "гаряче водопостачання",
    "waste_collection": "вивезення побутових відходів",
}
# "відключення ..." takes the genitive.
_SERVICE_GENITIVE_UK = {
    "cold_water": "холодного водопостачання",
    "sewage": "водовідведення",
    "heating": "опалення",
    "hot_water": "гарячого водопостачання",
    "waste_collection": "вивезення побутових відходів",
}


@dataclass(frozen=True)
class RenderedNotice:
    title: str
    body: str
    structured: dict[str, Any]


def render(work: PlannedWork, provider_title: str, *, provider: str | None = None) -> RenderedNotice:
    """The announcement of one notice revision. ``provider`` (the utility id) defaults to the executor
    whose Ukrainian name is ``provider_title``."""
    what = _what(work)
    where = _where_short(work)
    if work.cancelled:
        title = f"Скасовано: {what} — {where}"
        body = _cancelled_body(work, provider_title, what)
    else:
        title = f"{what[:1].upper()}{what[1:]} — {where}"
        body = _body(work, provider_title, what)
    return RenderedNotice(title, body, _structured(work, provider_title, provider))


def format_period(starts_at: datetime, ends_at: datetime | None) -> str:
    """«з 09:00 01.12.2026 до 17:00 01.12.2026», or «... до завершення робіт» without an end."""
    end = f"до {_kyiv_text(ends_at)}" if ends_at is not None else "до завершення робіт"
    return f"з {_kyiv_text(starts_at)} {end}"


def _what(work: PlannedWork) -> str:
    if work.service == WASTE:
        adjective = "позапланова зміна" if work.kind == "emergency" else "зміна"
        return f"{adjective} графіка вивезення побутових відходів"
    adjective = "аварійне" if work.kind == "emergency" else "планове"
    return f"{adjective} відключення {_SERVICE_GENITIVE_UK.get(work.service, work.service)}"


def _where_short(work: PlannedWork) -> str:
    """A few street names (no houses) for the title; the district for a waste change when it has one."""
    if work.service == WASTE and work.district:
        return _district(work.district)
    names = [sh.street for sh in group_by_street(work.addresses)]
    shown = ", ".join(names[:TITLE_STREETS])
    hidden = len(names) - TITLE_STREETS
    if hidden > 0:
        shown += f" та ще {hidden} {_plural(hidden, 'вулиця', 'вулиці', 'вулиць')}"
    elif work.unparsed_lines and shown:
        shown += " та інші адреси"
    if shown:
        return shown
    if work.district:
        return _district(work.district)
    return "адреси в оголошенні"


def _body(work: PlannedWork, provider_title: str, what: str) -> str:
    lines = [f"{provider_title} повідомляє: {what}."]
    if work.service == WASTE:
        if work.district:
            lines.append(f"Район: {_district(work.district).removesuffix(' район')}.")
        new_date = _kyiv(work.starts_at).strftime("%d.%m.%Y")
        if work.original_date is not None:
            lines.append(f"Вивезення перенесено з {_kyiv(work.original_date).strftime('%d.%m.%Y')} на {new_date}.")
        else:
            lines.append(f"Вивезення відбудеться {new_date}.")
    else:
        service = SERVICE_NAMES_UK.get(work.service, work.service)
        lines.append(f"Не буде послуги: {service}.")
        lines.append(f"Коли: {format_period(work.starts_at, work.ends_at)}.")
    lines += _address_lines(work)
    if work.reason:
        lines.append(f"Причина: {work.reason.strip().rstrip('.')}.")
    if work.households is not None:
        noun = _plural(work.households, "домогосподарство", "домогосподарства", "домогосподарств")
        lines.append(f"Без послуги залишаться {work.households} {noun}.")
    if work.tanker_location:
        lines.append(f"Підвезення води: автоцистерна — {work.tanker_location.strip().rstrip('.')}.")
    if work.contact_phone:
        lines.append(f"Довідки за телефоном: {work.contact_phone}.")
    return "\n".join(lines)


def _cancelled_body(work: PlannedWork, provider_title: str, what: str) -> str:
    if work.service == WASTE:
        when = _kyiv(work.starts_at).strftime("%d.%m.%Y")
        lines = [f"Скасовано: {what} на {when}. Вивезення відбудеться за звичайним графіком."]
    else:
        lines = [
            f"Скасовано: {what} {format_period(work.starts_at, work.ends_at)}. Послуга надаватиметься як звичайно."
        ]
    lines += _address_lines(work)
    lines.append(provider_title + (f", довідки за телефоном: {work.contact_phone}." if work.contact_phone else "."))
    return "\n".join(lines)


def _address_lines(work: PlannedWork) -> list[str]:
    streets = [render_street_houses(sh) for sh in group_by_street(work.addresses)]
    lines = streets + [line.strip() for line in work.unparsed_lines if line.strip()]
    return ["Адреси:", *lines] if lines else []


def _structured(work: PlannedWork, provider_title: str, provider: str | None) -> dict[str, Any]:
    return {
        "provider": provider or _provider_id(provider_title),
        "provider_title": provider_title,
        "notice_id": work.notice_id,
        "revision": work.revision,
        "kind": work.kind,
        "cancelled": work.cancelled,
        "service": {"code": work.service, "name_uk": SERVICE_NAMES_UK.get(work.service, work.service)},
        "addresses": [street_houses_dict(sh) for sh in group_by_street(work.addresses)],
        "unparsed_addresses": [line.strip() for line in work.unparsed_lines if line.strip()],
        "starts_at": _kyiv(work.starts_at).isoformat(),
        "ends_at": _kyiv(work.ends_at).isoformat() if work.ends_at is not None else None,
        "until_finished": work.ends_at is None,
        "reason": work.reason,
        "households": work.households,
        "tanker_location": work.tanker_location,
        "contact_phone": work.contact_phone,
        "district": work.district,
        "original_date": _kyiv(work.original_date).date().isoformat() if work.original_date is not None else None,
        "announced_at": _kyiv(work.announced_at).isoformat() if work.announced_at is not None else None,
    }


def _kyiv(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(KYIV)


def _kyiv_text(moment: datetime) -> str:
    return _kyiv(moment).strftime("%H:%M %d.%m.%Y")


def _district(name: str) -> str:
    name = name.strip()
    return name if "район" in name.casefold() else f"{name} район"


def _plural(n: int, one: str, few: str, many: str) -> str:
    """Ukrainian noun form after a number: 1 вулиця, 2 вулиці, 5 вулиць, 21 вулиця, 12 вулиць."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


@cache
def _executor_ids() -> dict[str, str]:
    from gateway.classifier import DATA_DIR
    from gateway.yamlfile import load_yaml

    return {e["name_uk"]: e["id"] for e in load_yaml(DATA_DIR / "executors.yaml") or []}


def _provider_id(provider_title: str) -> str | None:
    return _executor_ids().get(provider_title.strip())
