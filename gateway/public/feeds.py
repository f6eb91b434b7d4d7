"""Current and upcoming works: JSON, GeoJSON, iCalendar (all, per utility, per street) and an Atom feed.

Every feed takes the same filters (utility, street, house: the street through the address normaliser,
so an old name or «вулиця» for «вул.» finds the same works) and carries Last-Modified: the latest
change of what it lists.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import exports
from gateway.addresses import canonical_street
from gateway.export_views import announcement_views
from gateway.exports import AnnouncementView
from gateway.models import Executor
from gateway.public.app import db_session, now

router = APIRouter(tags=["announcements"])

Provider = Annotated[str | None, Query(description="utility id (its connector's name), e.g. vodokanal")]
Street = Annotated[str | None, Query(description="a street as written, e.g. «вулиця Соборності» or an old name")]
House = Annotated[str | None, Query(description="a house on that street, e.g. «16а»")]
ICAL = "text/calendar; charset=utf-8"


def _last_modified(views: list[AnnouncementView]) -> dict[str, str]:
    if not views:
        return {}
    return {"Last-Modified": format_datetime(max(v.updated_at for v in views).replace(microsecond=0), usegmt=True)}


def _views(request: Request, session: Session, provider: str | None, street: str | None,
           house: str | None) -> list[AnnouncementView]:
    return announcement_views(session, now(request), provider=provider, street=street, house=house)


@router.get("/announcements.json", summary="Current and upcoming works")
def announcements_json(request: Request, session: Annotated[Session, Depends(db_session)],
                       provider: Provider = None, street: Street = None, house: House = None) -> JSONResponse:
    views = _views(request, session, provider, street, house)
    return JSONResponse(exports.announcements_document(views), headers=_last_modified(views))


@router.get("/announcements.geojson", summary="Works on the map (RFC 7946), where the streets' points are known")
def announcements_geojson(request: Request, session: Annotated[Session, Depends(db_session)],
                          provider: Provider = None, street: Street = None, house: House = None) -> JSONResponse:
    views = _views(request, session, provider, street, house)
    return JSONResponse(exports.announcements_geojson(views), media_type="application/geo+json",
                        headers=_last_modified(views))


@router.get("/announcements.atom", summary="Atom feed of current and upcoming works")
def announcements_atom(request: Request, session: Annotated[Session, Depends(db_session)],
                       provider: Provider = None, street: Street = None, house: House = None) -> Response:
    views = _views(request, session, provider, street, house)
    text = exports.announcements_atom(views, now=now(request), feed_url=str(request.url),
                                      page_url=str(request.url_for("resident_page")))
    return Response(text, media_type="application/atom+xml; charset=utf-8", headers=_last_modified(views))


def _calendar(views: list[AnnouncementView], moment: datetime, name: str) -> Response:
    return Response(exports.announcements_ical(views, now=moment, name=name), media_type=ICAL,
                    headers=_last_modified(views))


@router.get("/announcements.ics", summary="iCalendar of all current and upcoming works")
def calendar_all(request: Request, session: Annotated[Session, Depends(db_session)]) -> Response:
    return _calendar(_views(request, session, None, None, None), now(request), exports.CALENDAR_NAME)


@router.get("/announcements/utility/{provider}.ics", summary="iCalendar of one utility's works")
def calendar_of_utility(provider: str, request: Request, session: Annotated[Session, Depends(db_session)]) -> Response:
    title = session.scalar(select(Executor.name_uk).where(Executor.integration == provider))
    if title is None:
        raise HTTPException(404, f"no utility {provider!r} publishes works here")
    views = _views(request, session, provider, None, None)
    return _calendar(views, now(request), f"{exports.CALENDAR_NAME} — {title}")


@router.get("/announcements/street/{street}.ics", summary="iCalendar of the works on one street")
def calendar_of_street(street: str, request: Request, session: Annotated[Session, Depends(db_session)],
                       house: House = None) -> Response:
    views = _views(request, session, None, street, house)
    where = canonical_street(street) + (f", {house}" if house else "")
    return _calendar(views, now(request), f"{exports.CALENDAR_NAME} — {where}")
