"""The status page: one FastAPI app that serves ``gateway status`` as HTML (``/``), JSON
(``/status.json``) and Prometheus metrics (``/metrics``).

The Airflow plugin (plugins/gateway_status.py) mounts it inside the Airflow API server so operators see
it in the Airflow UI; ``gateway metrics --port`` serves it alone. Plugin endpoints are not behind
Airflow's login, so every answer carries counts, ages and states only, never a request, a resident
or an error text. Links are relative: the page works under any prefix and behind a proxy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from html import escape
from threading import Lock

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from gateway.db import make_engine, session_factory, utcnow
from gateway.errors import ConfigError
from gateway.metrics import CONTENT_TYPE, render
from gateway.registry import load_registry
from gateway.status import UtilityStatus, utility_status

log = logging.getLogger(__name__)
HEADERS = ("Постачальник", "Очікують", "Найстаріша", "Остання передача", "Останнє отримання",
           "Затримка статусів", "Збоїв за 24 год", "Відкладені", "Без відповідності", "Запобіжник", "Стан")


class _Database:
    """One engine per app, made on first use (the URL may come from an Airflow Connection)."""

    def __init__(self, url: Callable[[], str | None]) -> None:
        self._url, self._engine, self._lock = url, None, Lock()

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(self._url())
            return self._engine

    def snapshot(self) -> list[UtilityStatus]:
        with session_factory(self.engine())() as session:
            return utility_status(session, load_registry(), utcnow())


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    return f"{minutes // 60} год {minutes % 60:02d} хв" if minutes >= 60 else f"{minutes} хв"


def _cells(row: UtilityStatus, now_ts: float) -> list[str]:
    def since(at):
        return _ago(None if at is None else now_ts - at.timestamp())

    return [row.utility, str(row.pending), _ago(row.oldest_pending_age_s), since(row.last_good_push),
            since(row.last_good_pull), _ago(row.status_lag_s), str(row.failures_24h), str(row.dead_letters),
            str(row.unmapped), row.breaker, "потрібна людина" if row.needs_person else "гаразд"]


def render_html(rows: list[UtilityStatus]) -> str:
    now_ts = utcnow().timestamp()
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join(
        f'<tr class="{"bad" if r.needs_person else "ok"}">'
        + "".join(f"<td>{escape(c)}</td>" for c in _cells(r, now_ts)) + "</tr>" for r in rows)
    reasons = "".join(f"<li><b>{escape(r.utility)}</b>: {escape(reason)}</li>" for r in rows for reason in r.reasons)
    return f"""<!doctype html>
<html lang="uk"><head><meta charset="utf-8"><meta http-equiv="refresh" content="60">
<title>Шлюз 1520: стан синхронізації</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}} td:first-child{{text-align:left}}
tr.bad td:last-child{{color:#b00;font-weight:bold}} tr.ok td:last-child{{color:#070}}</style></head>
<body><h1>Шлюз контакт-центру 1520: стан синхронізації</h1>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Що потребує уваги</h2><ul>{reasons or "<li>нічого: шлюз дає раду сам</li>"}</ul>
<p><a href="status.json">status.json</a> · <a href="metrics">metrics</a> (Prometheus) ·
деталі: <code>gateway status</code>, <code>gateway dlq list</code>, docs/operations.md</p>
</body></html>"""


def create_app(database_url: Callable[[], str | None]) -> FastAPI:
    """The status app for the contact-centre database that ``database_url()`` names (None: the
    GATEWAY_DATABASE_URL environment variable)."""
    database = _Database(database_url)
    app = FastAPI(title="Contact centre 1520 gateway status", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(OperationalError)
    @app.exception_handler(ProgrammingError)
    @app.exception_handler(ConfigError)
    def unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # 503: Prometheus records a failed scrape (up == 0); the reason stays in the server's log,
        # since a database error can name hosts and users
        log.warning("status page: contact-centre database unavailable (%s)", type(exc).__name__)
        return JSONResponse({"error": "the contact-centre database is unavailable"}, status_code=503)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return render_html(database.snapshot())

    @app.get("/status.json")
    def status_json() -> Response:
        rows = database.snapshot()
        body = {"at": utcnow().isoformat(), "needs_person": any(r.needs_person for r in rows),
                "utilities": [r.as_json() for r in rows]}
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(render(database.snapshot), media_type=CONTENT_TYPE)

    return app
