"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), read-only, JSON.

``requests.json`` takes the standard filters (service_request_id, service_code, status, start_date,
end_date) for any period, and pages with ``page`` and ``page_size``: the total is in X-Total-Count and
the next page in a Link header, and a page larger than the limit is refused, never cut silently.
Errors come in the standard's shape: ``[{"code": 400, "description": "..."}]``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import exports
from gateway.classifier import default_classifier
from gateway.export_views import RequestFilter, count_requests, request_views
from gateway.public.app import db_session

PREFIX = "/open311/v2"
JURISDICTION = "kr.gov.ua"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
KYIV = ZoneInfo("Europe/Kyiv")

router = APIRouter(prefix=PREFIX, tags=["Open311 GeoReport v2"])


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def error_response(code: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": code, "description": description}], status_code=code)


def install(app: FastAPI) -> None:
    """The router, and the standard's error shape for everything under /open311/ (also 404s and bad
    parameters); other paths keep FastAPI's own errors."""
    app.include_router(router)
    async def open311_error(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, Open311Error)
        return error_response(exc.code, exc.description)

    async def http_error(request: Request, exc: Exception) -> Any:
        if request.url.path.startswith(PREFIX) and isinstance(exc, StarletteHTTPException):
            return error_response(exc.status_code, str(exc.detail))
        return await http_exception_handler(request, exc)  # type: ignore[arg-type]

    async def validation_error(request: Request, exc: Exception) -> Any:
        if request.url.path.startswith(PREFIX) and isinstance(exc, RequestValidationError):
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
            return error_response(400, problems)
        return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]

    app.add_exception_handler(Open311Error, open311_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _json_only(fmt: str) -> None:
    if fmt != "json":
        raise Open311Error(400, f"format {fmt!r} is not served: use .json")


def _jurisdiction(jurisdiction_id: str | None) -> None:
    if jurisdiction_id not in (None, "", JURISDICTION):
        raise Open311Error(404, f"jurisdiction_id {jurisdiction_id!r} not found: this endpoint serves {JURISDICTION}")


def _list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _date(name: str, value: str | None) -> datetime | None:
    """W3C datetime (ISO 8601); a date or a time without an offset is Kyiv time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))  # '+' arrives as a space when unescaped
    except ValueError:
        raise Open311Error(400, f"{name} {value!r} is not a W3C datetime such as 2026-12-01T00:00:00+02:00") from None
    return moment.replace(tzinfo=KYIV) if moment.tzinfo is None else moment


Jurisdiction = Annotated[str | None, Query(description=f"optional; only {JURISDICTION!r} is served")]


@router.get("/services.{fmt}", summary="The classifier as GeoReport v2 services")
def services(fmt: str, jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    _json_only(fmt)
    _jurisdiction(jurisdiction_id)
    return JSONResponse(exports.open311_services(default_classifier().current))


@router.get("/services/{service_code}.{fmt}", summary="A service definition (no extra attributes are asked)")
def service_definition(service_code: str, fmt: str, jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    _json_only(fmt)
    _jurisdiction(jurisdiction_id)
    version = default_classifier().current
    if not any(item.code == service_code for item in version.items):
        raise Open311Error(404, f"service_code {service_code!r} not found")
    return JSONResponse({"service_code": service_code, "attributes": []})


@router.get("/requests.{fmt}", summary="Requests' public status, filtered and paged")
def requests(
    request: Request,
    fmt: str,
    session: Annotated[Session, Depends(db_session)],
    service_request_id: Annotated[str | None, Query(description="comma-separated request numbers")] = None,
    service_code: Annotated[str | None, Query(description="comma-separated service codes")] = None,
    start_date: Annotated[str | None, Query(description="registered at or after (W3C datetime)")] = None,
    end_date: Annotated[str | None, Query(description="registered before (W3C datetime)")] = None,
    status: Annotated[str | None, Query(description="open, closed or both, comma-separated")] = None,
    page: Annotated[int, Query(ge=1, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, description=f"requests per page, at most {MAX_PAGE_SIZE}")]
    = DEFAULT_PAGE_SIZE,
    jurisdiction_id: Jurisdiction = None,
) -> JSONResponse:
    _json_only(fmt)
    _jurisdiction(jurisdiction_id)
    if page_size > MAX_PAGE_SIZE:
        raise Open311Error(400, f"page_size {page_size} is over the limit of {MAX_PAGE_SIZE}: ask for more pages")
    statuses = set(_list(status))
    if statuses - {"open", "closed"}:
        raise Open311Error(400, f"status {status!r}: use open, closed or open,closed")
    start, end = _date("start_date", start_date), _date("end_date", end_date)
    if start and end and end <= start:
        raise Open311Error(400, f"end_date {end_date!r} is not after start_date {start_date!r}")
    wanted = RequestFilter(
        numbers=_list(service_request_id), service_codes=_list(service_code),
        closed=None if len(statuses) != 1 else statuses == {"closed"}, start=start, end=end,
    )
    total = count_requests(session, wanted)
    views = request_views(session, wanted, offset=(page - 1) * page_size, limit=page_size)
    last = max(1, -(-total // page_size))
    return JSONResponse(exports.open311_requests(views), headers=_paging_headers(request, page, last, total))


@router.get("/requests/{service_request_id}.{fmt}", summary="One request's public status")
def request_by_id(service_request_id: str, fmt: str, session: Annotated[Session, Depends(db_session)],
                  jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    _json_only(fmt)
    _jurisdiction(jurisdiction_id)
    views = request_views(session, RequestFilter(numbers=[service_request_id]), limit=1)
    if not views:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    return JSONResponse(exports.open311_requests(views))


def _paging_headers(request: Request, page: int, last: int, total: int) -> dict[str, str]:
    def link(number: int, rel: str) -> str:
        query = dict(request.query_params) | {"page": str(number)}
        return f'<{request.url.replace(query=urlencode(query))}>; rel="{rel}"'

    links = [link(1, "first"), link(last, "last")]
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
    return {"X-Total-Count": str(total), "Link": ", ".join(links)}
