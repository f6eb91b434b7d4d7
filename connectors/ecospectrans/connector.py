"""Connector for ТОВ «Екоспецтранс»: REST/JSON behind OAuth2 client credentials, 5 requests/s per client.

Creates are asynchronous (202 and a token; ``resolve_pending``); a ``client_reference`` is unique at the
utility (409 names the ticket or its token), so ``idempotent_create`` holds. Container categories name
their container site, looked up by address. The feed cursor (``FeedPosition``) wraps the utility's page
cursor and how much of its page was handed out, so any ``limit`` works with its 100-item pages; it
carries the watermark (newest ``updated_at`` handed out), so a run that reached the end, or whose page
cursor expired (410), asks ``updated_since`` = watermark - overlap rather than the beginning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.ecospectrans import wire
from gateway import connector as api
from gateway.connections import ConnectionConfig
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError
from gateway.toolkit import timestamps as ts
from gateway.toolkit.failures import CLIENT_ERRORS, SERVER_ERRORS, Rule
from gateway.toolkit.http import HttpClient, items_of
from gateway.toolkit.localtime import KYIV, kyiv_day
from gateway.toolkit.oauth import ClientCredentials, bearer_send
from gateway.toolkit.paging import FeedPosition
from gateway.toolkit.ratelimit import rate_settings, shared_limiter
from gateway.toolkit.redact import scrub_contacts

log = logging.getLogger("gateway.connectors.ecospectrans")

RULES = (
    Rule("retriable", "rate limited", status={429}),
    Rule("uncertain", "server error", status=SERVER_ERRORS),
    Rule("fatal", "refused the credentials", status={401, 403}),
    Rule("permanent", "refused", status=CLIENT_ERRORS, write=True),  # this item: dead-lettered
    Rule("fatal", "refused the query; check the connection", status=CLIENT_ERRORS),
    Rule("fatal", "unexpected reply; check the connection", status=range(100, 600)),
)
COMMENT_AUTHOR, CURSOR_PREFIX = "Контакт-центр 1520", "eco1."
FEED_OVERLAP = timedelta(seconds=30)  # a restart reads this much before the watermark again (late commits)
UPDATE_PREFIXES = {"rework": "Заявку повернуто на доопрацювання", "withdrawn": "Заявник відкликав заявку",
                   "details": "Уточнення від заявника"}


class EcospectransConnector(api.Connector):
    statuses: ClassVar[frozenset[str]] = frozenset(wire.STATUSES)
    idempotent_create: ClassVar[bool] = True

    def __init__(self, connection: ConnectionConfig, *, timeouts: api.Timeouts | None = None) -> None:
        super().__init__(connection, timeouts=timeouts)
        limit, window = rate_settings(connection, default_limit=5)
        stale = self.timeouts.connect + self.timeouts.read + window
        limiter = shared_limiter(connection, limit, window, stale_after=stale) if limit else None
        self._http = HttpClient("ecospectrans", connection, self.timeouts, RULES, limiter=limiter)
        self._credentials = ClientCredentials(self._http, connection.login or "", connection.password or "")

    def _send(self, method: str, path: str, what: str, **kwargs: Any):  # -> requests.Response
        if not (self.connection.login and self.connection.password):
            raise FatalError("ecospectrans connection lacks the client id (login) or the client secret (password)")
        return bearer_send(self._http, self._credentials, method, path, what=what, write=method == "POST", **kwargs)

    def _get(self, path: str, what: str, **kwargs: Any) -> Any:
        response = self._send("GET", path, what, **kwargs)
        if response.status_code != 200:
            raise self._http.failure(response, what, write=False)
        return self._http.json(response, what, write=False)

    # jobs ------------------------------------------------------------------------------------------
    def create_job(self, job: api.JobDraft) -> api.CreateResult:
        if job.reported_at.tzinfo is None:
            raise PermanentError(f"request {job.reference}: reported_at has no UTC offset")
        site_id = self._site_for(job) if job.job_type in wire.CONTAINER_CATEGORIES else None
        what = "POST /v2/tickets"
        response = self._send("POST", "/v2/tickets", what, json=wire.ticket_body(job, site_id))
        status = response.status_code
        if status not in (200, 201, 202, 409):  # 409: the reference is taken; the answer names its ticket
            raise self._http.failure(response, what, write=True)
        data = self._http.json(response, what, write=True)
        data = data if isinstance(data, dict) else {}
        job_id, token = data.get("ticket_id" if status == 409 else "id"), data.get("token")
        if isinstance(job_id, str) and job_id:
            log.info("ticket for %s is %s", job.reference, job_id)
            return api.CreateResult(job_id=job_id, status=data["status"] if data.get("status") in wire.STATUSES
                                    else None)
        if isinstance(token, str) and token and status in (202, 409):
            log.info("ticket for %s accepted, pending creation", job.reference)
            return api.CreateResult(pending_token=token)
        raise AmbiguousError(f"ecospectrans {what}: HTTP {status} without a ticket id or token; the ticket may exist")

    def _site_for(self, job: api.JobDraft) -> str | None:
        """The container site serving the address (the nearest first), or None when there is none."""
        what = "GET /v2/sites"
        response = self._send("GET", "/v2/sites", what, params={"address": f"{job.street}, {job.house}"})
        if response.status_code == 422:
            log.info("site lookup for %s refused the address; sending the address", job.reference)
            return None
        if response.status_code != 200:
            raise self._http.failure(response, what, write=False)
        sites = items_of(self._http.json(response, what, write=False), "sites", f"ecospectrans {what}")
        found = [s["id"] for s in sites if isinstance(s, dict) and isinstance(s.get("id"), str) and s["id"]]
        return found[0] if found else None

    def find_jobs(self, reference: str) -> Sequence[api.RemoteJob]:
        what = "GET /v2/tickets?client_reference"
        items = items_of(self._get("/v2/tickets", what, params={"client_reference": reference}), "tickets",
                         f"ecospectrans {what}")
        jobs, _ = ts.read_each(items, wire.remote_job, lambda i, _: f"ticket {i}", f"ecospectrans lookup {reference}")
        return [job for job in jobs if job.reference in (None, reference)]

    def resolve_pending(self, token: str) -> api.RemoteJob | None:
        what = "GET /v2/tickets/by-token/{token}"
        response = self._send("GET", f"/v2/tickets/by-token/{quote(token, safe='')}", what)
        if response.status_code == 404:
            return None  # not created yet
        if response.status_code != 200:
            raise self._http.failure(response, what, write=False)
        try:
            return wire.remote_job(self._http.json(response, what, write=False))
        except ts.Unreadable as exc:
            raise RetriableError(f"ecospectrans {what}: the ticket cannot be read ({exc})") from None

    # the status feed ---------------------------------------------------------------------------------
    def fetch_changes(self, cursor: str | None, limit: int) -> api.ChangePage:
        position = (FeedPosition.decode(CURSOR_PREFIX, cursor, "ecospectrans") if cursor
                    else FeedPosition(wire.FEED_START))
        data = self._feed_page(position)
        if data is None:  # the utility refused the page cursor: from the last watermark, deduplicated
            log.warning("ecospectrans refused the feed cursor (expired); restarting from the watermark %s",
                        position.watermark)
            position = position.restart(FEED_OVERLAP)
            data = self._feed_page(position)
            if data is None:
                raise RetriableError("ecospectrans GET /v2/tickets: refused a feed query without a cursor")
        items = items_of(data, "tickets", "ecospectrans GET /v2/tickets")
        server_next = data.get("next_cursor") if isinstance(data.get("next_cursor"), str) else None
        batch, following, has_more = position.next_part(items, wire.ticket_key, limit, server_next,
                                                        data.get("has_more") is True, FEED_OVERLAP)
        key = lambda i, x: ts.id_or(x, "id", f"page-item-{i}", ts.is_text)  # noqa: E731
        changes, rejects = ts.read_each(batch, wire.status_change, key, "ecospectrans feed")
        return api.ChangePage(changes, next_cursor=following.encode(CURSOR_PREFIX), has_more=has_more,
                              rejects=rejects)

    def _feed_page(self, position: FeedPosition) -> Any:
        """One feed page, or None when the utility refuses its page cursor as expired (410)."""
        params = {"updated_since": position.since, **({"cursor": position.page} if position.page else {})}
        response = self._send("GET", "/v2/tickets", "GET /v2/tickets", params=params)
        if response.status_code == 410 and position.page:
            return None
        if response.status_code != 200:
            raise self._http.failure(response, "GET /v2/tickets", write=False)
        return self._http.json(response, "GET /v2/tickets", write=False)

    # updates ---------------------------------------------------------------------------------------
    def push_update(self, job_id: str, update: api.JobUpdate) -> None:
        at = update.at if update.at.tzinfo else update.at.replace(tzinfo=UTC)
        prefix = UPDATE_PREFIXES.get(update.kind, "Повідомлення контакт-центру")
        text = f"{prefix} ({at.astimezone(KYIV).strftime('%d.%m.%Y %H:%M')}): {scrub_contacts(update.text)}"
        what = "POST /v2/tickets/{id}/comments"
        response = self._send("POST", f"/v2/tickets/{quote(job_id, safe='')}/comments", what,
                              json={"text": text[:4000], "author": COMMENT_AUTHOR})
        if response.status_code not in (200, 201):
            raise self._http.failure(response, what, write=True)
        log.info("comment (%s) added to ticket %s", update.kind, job_id)

    # planned works -----------------------------------------------------------------------------------
    def fetch_planned_works(self, since: datetime, until: datetime) -> api.WorksPage:
        what = "GET /v2/schedule-changes"
        data = self._get("/v2/schedule-changes", what, params={"from": kyiv_day(since), "to": kyiv_day(until)})
        items = items_of(data, "schedule_changes", f"ecospectrans {what}")
        key = lambda i, x: ts.id_or(x, "id", f"item-{i}", ts.is_text)  # noqa: E731
        works, rejects = ts.read_each(items, wire.planned_work, key, "ecospectrans schedule changes")
        return api.WorksPage(works=works, rejects=rejects)

    def close(self) -> None:
        self._http.close()
