"""The operator's lookup: while a call is taken, what is already known at the resident's address.

The street and house come as the operator types them («вул. Соборності», «вулиця соборності»,
«Леніна» for the renamed street, «16 А»); the address normaliser (gateway.addresses) reads them.
The answer lists the active and upcoming outages covering the address and the open jobs there, so
the call can be answered as a consultation instead of becoming one more request (decision, 2.2).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from gateway import exports
from gateway.addresses import canonical_street, house_key, is_known_street
from gateway.export_views import announcement_views, open_jobs_at
from gateway.privacy import public_request
from gateway.public.app import db_session, now

router = APIRouter(tags=["operator lookup"])


@router.get("/lookup", summary="Outages and open jobs at an address, as an operator types it")
def lookup(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    street: Annotated[str, Query(min_length=2, description="street as typed: «вул. Соборності», an old name...")],
    house: Annotated[str | None, Query(description="house as typed: «16а», «16 А», «буд. 16-а»")] = None,
) -> JSONResponse:
    moment = now(request)
    house = (house or "").strip() or None
    outages = []
    for view in announcement_views(session, moment, street=street, house=house):
        row = exports.announcement_dict(view)
        row["active_now"] = view.starts_at <= moment
        outages.append(row)
    jobs: list[dict[str, Any]] = []
    for view, provider in open_jobs_at(session, street, house):
        row = exports.open311_request(public_request(view))
        row["utility"] = provider
        jobs.append(row)
    body = {
        "query": {"street": street, "house": house},
        "street": canonical_street(street),
        "known_street": is_known_street(street),
        "house": house_key(house) if house else None,
        "outages": outages,
        "open_jobs": jobs,
        "advice_uk": _advice(outages, jobs),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-cache"})


def _advice(outages: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> str:
    if outages:
        return f"За адресою оголошено роботи: {outages[0]['title']}. Надайте роз'яснення, нова заявка не потрібна."
    if jobs:
        return f"За адресою вже є відкрита заявка {jobs[0]['service_request_id']}: приєднайте звернення до неї."
    return "Оголошених робіт і відкритих заявок за адресою немає."
