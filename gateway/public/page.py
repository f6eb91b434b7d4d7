"""The residents' page: today's and upcoming outages by district and street, searchable by street.

Server-rendered Ukrainian HTML (Jinja2, no build step, no script needed): the search is a plain GET
form read through the address normaliser, so «вулиця Леніна» finds the works on вул. Соборності.
Each entry says what, when, which houses, where the water tanker stands and the utility's hotline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from gateway.addresses import canonical_street, street_key
from gateway.announcement_text import SERVICE_NAMES_UK, WASTE, format_period
from gateway.export_views import announcement_views
from gateway.exports import AnnouncementView, announcement_id, public_announcement
from gateway.public import places
from gateway.public.app import db_session, now

KYIV = ZoneInfo("Europe/Kyiv")
OTHER_DISTRICT = "Інші адреси"
CONTACT_CENTRE = "1520"
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)

router = APIRouter(tags=["residents"])


@dataclass
class Entry:
    """One announcement as shown under one street."""

    anchor: str
    title: str
    utility: str
    service: str
    kind: str
    period: str
    houses: str
    tanker: str | None
    hotline: str | None
    body: str


@dataclass
class StreetGroup:
    street: str
    entries: list[Entry] = field(default_factory=list)


@dataclass
class DistrictGroup:
    district: str
    streets: dict[str, StreetGroup] = field(default_factory=dict)


def _entry(view: AnnouncementView, street_line: str) -> Entry:
    houses = street_line.split(": ", 1)[1] if ": " in street_line else street_line.split(" (", 1)[-1].rstrip(")")
    return Entry(
        anchor=announcement_id(view),
        title=view.title_uk,
        utility=view.provider_title,
        service=SERVICE_NAMES_UK.get(view.service, view.service),
        kind="аварійні роботи" if view.kind == "emergency" else "планові роботи",
        period=_when(view),
        houses=houses,
        tanker=view.tanker_location,
        hotline=view.contact_phone,
        body=view.body_uk,
    )


def _when(view: AnnouncementView) -> str:
    """A moved collection day is a day, not a period: «04.12.2026 (замість 03.12.2026)»."""
    if view.service != WASTE:
        return format_period(view.starts_at, view.ends_at)
    moved_from = view.structured.get("original_date")
    day = _day(view.starts_at)
    if not moved_from:
        return f"вивезення {day}"
    return f"вивезення {day} (замість {date.fromisoformat(moved_from).strftime('%d.%m.%Y')})"


def group(views: list[AnnouncementView], only_street: str | None = None) -> list[DistrictGroup]:
    """District -> street -> works, districts and streets in alphabetical order."""
    districts: dict[str, DistrictGroup] = {}
    wanted = street_key(only_street) if only_street else None
    seen: dict[str, int] = {}
    for view in map(public_announcement, views):
        lines = view.street_lines or ("",)
        streets = view.streets or (view.district or OTHER_DISTRICT,)
        for street, line in zip(streets, lines, strict=False):
            if wanted and street_key(street) != wanted:
                continue
            district = places.district_of(street) or view.district or OTHER_DISTRICT
            district = district.removesuffix(" район")
            target = districts.setdefault(district, DistrictGroup(district))
            entry = _entry(view, line)
            seen[entry.anchor] = seen.get(entry.anchor, 0) + 1
            if seen[entry.anchor] > 1:  # the same works under another street: ids stay unique, the first is the link
                entry.anchor = f"{entry.anchor}-{seen[entry.anchor]}"
            target.streets.setdefault(street, StreetGroup(street)).entries.append(entry)
    ordered = sorted(districts.values(), key=lambda d: (d.district == OTHER_DISTRICT, d.district))
    for d in ordered:
        d.streets = dict(sorted(d.streets.items()))
    return ordered


def _day(moment: datetime) -> str:
    return moment.astimezone(KYIV).strftime("%d.%m.%Y")


@router.get("/", response_class=HTMLResponse, name="resident_page", summary="The residents' outage page (Ukrainian)")
def resident_page(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    street: Annotated[str | None, Query(description="street to search, as residents write it")] = None,
    house: Annotated[str | None, Query(description="house on that street")] = None,
) -> HTMLResponse:
    moment = now(request)
    street = (street or "").strip() or None
    house = (house or "").strip() or None
    views = announcement_views(session, moment, street=street, house=house)
    today = moment.astimezone(KYIV).date()
    current = [v for v in views if v.starts_at.astimezone(KYIV).date() <= today]
    upcoming = [v for v in views if v.starts_at.astimezone(KYIV).date() > today]
    hotlines = sorted({(v.provider_title, v.contact_phone) for v in views if v.contact_phone})
    known_streets = sorted(set(places.street_names()) | {s for v in views for s in v.streets})
    html = TEMPLATES.get_template("index.html").render(
        today=_day(moment),
        updated=moment.astimezone(KYIV).strftime("%H:%M %d.%m.%Y"),
        street=street,
        house=house,
        shown_street=canonical_street(street) if street else None,
        current=group(current, street),
        upcoming=group(upcoming, street),
        count=len(views),
        hotlines=hotlines,
        contact_centre=CONTACT_CENTRE,
        streets=known_streets,
        atom_url=str(request.url_for("announcements_atom")),
        ics_url=str(request.url_for("calendar_all")),
    )
    return HTMLResponse(html)
