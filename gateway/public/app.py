"""The public service's FastAPI application: routers, CORS for the city's site, caching headers.

``create_app`` takes the database URL (default: $GATEWAY_DATABASE_URL) and opens one engine for the
process. Every endpoint is read-only and every record it returns went through gateway.privacy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import Session
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from gateway.db import make_engine, session_factory, utcnow

CORS_ORIGINS_ENV = "GATEWAY_PUBLIC_CORS_ORIGINS"
DEFAULT_CORS_ORIGINS = ("https://kr.gov.ua", "https://www.kr.gov.ua")
# Public data changes when a sync runs (minutes): a minute of caching costs residents nothing.
DEFAULT_CACHE_CONTROL = "public, max-age=60"


def cors_origins(configured: Sequence[str] | None = None) -> list[str]:
    """The city site's origins: given, else $GATEWAY_PUBLIC_CORS_ORIGINS (comma-separated), else kr.gov.ua."""
    if configured is not None:
        return list(configured)
    raw = os.environ.get(CORS_ORIGINS_ENV)
    if raw is None:
        return list(DEFAULT_CORS_ORIGINS)
    return [origin.strip() for origin in raw.split(",") if origin.strip()]


class ETagMiddleware(BaseHTTPMiddleware):
    """A strong ETag on every successful GET, 304 when the client already has it, and a Cache-Control
    unless the endpoint set its own."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        if request.method not in ("GET", "HEAD") or response.status_code != 200:
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        headers["ETag"] = etag
        headers.setdefault("cache-control", DEFAULT_CACHE_CONTROL)
        wanted = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
        if etag in wanted or "*" in wanted:
            return Response(status_code=304, headers={k: v for k, v in headers.items()
                                                      if k.lower() not in ("content-type",)})
        return Response(content=body, status_code=200, headers=headers, media_type=response.media_type)


def create_app(database_url: str | None = None, *, origins: Sequence[str] | None = None,
               clock: Callable[[], datetime] = utcnow) -> FastAPI:
    from gateway.public import feeds, lookup, open311, page

    app = FastAPI(
        title="Контакт-центр 1520: відкриті дані",
        version="1.0",
        description="Read-only public data of the Kryvyi Rih contact centre 1520: requests' status as "
        "Open311 GeoReport v2, utilities' outage announcements (JSON, GeoJSON, iCalendar, Atom), the "
        "residents' outage page and the operators' address lookup. No personal data is published.",
    )
    engine = make_engine(database_url)
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.clock = clock
    app.add_middleware(ETagMiddleware)
    app.add_middleware(CORSMiddleware, allow_origins=cors_origins(origins), allow_methods=["GET", "HEAD"],
                       allow_headers=["*"], expose_headers=["ETag", "Link", "X-Total-Count", "Last-Modified"])
    open311.install(app)
    app.include_router(feeds.router)
    app.include_router(lookup.router)
    app.include_router(page.router)
    return app


def db_session(request: Request) -> Iterator[Session]:
    """A read-only session per HTTP request."""
    with request.app.state.sessions() as session:
        yield session


def now(request: Request) -> datetime:
    return request.app.state.clock()
