"""Connector for ТОВ «Екоспецтранс»: the gateway's calls in the utility's REST/JSON API.

How the contract's open points are read (the simulator's docstring documents the server side):
- Creates are asynchronous: 202 gives a token, ``resolve_pending`` turns it into the ticket. A
  ``client_reference`` is unique at the utility, so ``idempotent_create`` holds: a repeated create
  answers 409 with the existing ticket id (or, while the first is still being created, with its
  token, which is returned as the pending token again).
- ``find_jobs`` uses ``GET /v2/tickets?client_reference=`` (the utility's list filter).
- Container categories name their container site: the site is looked up by address and its id sent;
  when the address has no site the address is sent instead. The API has no priority or phone field:
  the category carries the urgency and no resident data beyond the address is sent.
- The feed cursor is the connector's own (``wire.FeedCursor``), wrapping ``updated_since``, the
  utility's page cursor and how much of that page was handed out, so any ``limit`` works with the
  utility's fixed 100-item pages and resuming neither skips nor repeats.
- Schedule changes become waste-collection notices for the whole of each street, for the day of the
  new date; a breakdown is an emergency, a route change has no end.
- Failures: see transport.Transport. The ticket POST and comments are unsafe (ambiguous after sending);
  GETs are retriable; 401 after one renewal and refused credentials are fatal; 422 is permanent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from connectors.ecospectrans.categories import CONTAINER_CATEGORIES, STATUSES
from connectors.ecospectrans.client import ApiClient
from connectors.ecospectrans.wire import (
    KYIV,
    FeedCursor,
    WireError,
    planned_work,
    remote_job,
    status_change,
    ticket_key,
)
from gateway.connections import ConnectionConfig
from gateway.connector import (
    ChangePage,
    Connector,
    CreateResult,
    JobDraft,
    JobUpdate,
    RejectedItem,
    RemoteJob,
    StatusChange,
    Timeouts,
    WorksPage,
)
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError

log = logging.getLogger("gateway.connectors.ecospectrans")

COMMENT_AUTHOR = "Контакт-центр 1520"
UPDATE_PREFIXES = {
    "rework": "Заявку повернуто на доопрацювання",
    "withdrawn": "Заявник відкликав заявку",
    "details": "Уточнення від заявника",
}
PAGE_SIZE = 100  # the utility's fixed page size


class EcospectransConnector(Connector):
    statuses: ClassVar[frozenset[str]] = frozenset(STATUSES)
    idempotent_create: ClassVar[bool] = True

    def __init__(self, connection: ConnectionConfig, *, timeouts: Timeouts | None = None) -> None:
        super().__init__(connection, timeouts=timeouts)
        self._api = ApiClient(connection, self.timeouts)

    # jobs ------------------------------------------------------------------------------------------
    def create_job(self, job: JobDraft) -> CreateResult:
        body = self._ticket_body(job)
        route = "POST /v2/tickets"
        response = self._api.call("POST", "/v2/tickets", route=route, unsafe=True, json=body)
        status = response.status_code
        if status == 409:
            return self._existing(response, job.reference)
        if status not in (200, 201, 202):
            raise self._api.transport.failure(response, route, unsafe=True, item=True)
        data = self._api.transport.json(response, route, unsafe=True)
        if not isinstance(data, dict):
            raise AmbiguousError(f"ecospectrans {route}: HTTP {status} without a JSON object; it may have taken effect")
        if status == 202:
            token = data.get("token")
            if not isinstance(token, str) or not token:
                raise AmbiguousError(f"ecospectrans {route}: HTTP 202 without a token; the ticket may exist")
            log.info("ticket for %s accepted, pending creation", job.reference)
            return CreateResult(pending_token=token)
        job_id = data.get("id")  # a synchronous create, should the utility ever answer so
        if not isinstance(job_id, str) or not job_id:
            raise AmbiguousError(f"ecospectrans {route}: HTTP {status} without a ticket id; the ticket may exist")
        return CreateResult(job_id=job_id, status=data.get("status") if data.get("status") in STATUSES else None)

    def _ticket_body(self, job: JobDraft) -> dict[str, Any]:
        if job.reported_at.tzinfo is None:
            raise PermanentError(f"request {job.reference}: reported_at has no UTC offset")
        body: dict[str, Any] = {
            "client_reference": job.reference,
            "category": job.job_type,
            "description": job.description,
            "reported_at": job.reported_at.isoformat(),
        }
        site_id = self._site_for(job) if job.job_type in CONTAINER_CATEGORIES else None
        if site_id:
            body["site_id"] = site_id
        else:
            body["address"] = {"street": job.street, "house": job.house}
        return body

    def _site_for(self, job: JobDraft) -> str | None:
        """The container site serving the address (the nearest first), or None when there is none."""
        route = "GET /v2/sites"
        response = self._api.call("GET", "/v2/sites", route=route, params={"address": f"{job.street}, {job.house}"})
        if response.status_code == 422:
            log.info("site lookup for %s refused the address; sending the address", job.reference)
            return None
        if response.status_code != 200:
            raise self._api.transport.failure(response, route, unsafe=False, item=False)
        data = self._api.transport.json(response, route, unsafe=False)
        sites = data.get("sites") if isinstance(data, dict) else None
        if not isinstance(sites, list):
            raise RetriableError(f"ecospectrans {route}: the answer has no sites list")
        for site in sites:
            if isinstance(site, dict) and isinstance(site.get("id"), str) and site["id"]:
                log.debug("request %s: container site %s", job.reference, site["id"])
                return site["id"]
        log.debug("request %s: no container site at the address; sending the address", job.reference)
        return None

    def _existing(self, response: requests.Response, reference: str) -> CreateResult:
        """409: the reference is taken; the answer names the ticket (or its pending token)."""
        route = "POST /v2/tickets"
        try:
            data = response.json()
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict):
            if isinstance(data.get("ticket_id"), str) and data["ticket_id"]:
                log.info("ticket for %s already exists as %s", reference, data["ticket_id"])
                return CreateResult(job_id=data["ticket_id"])
            if isinstance(data.get("token"), str) and data["token"]:
                log.info("ticket for %s is already being created", reference)
                return CreateResult(pending_token=data["token"])
        raise AmbiguousError(f"ecospectrans {route}: HTTP 409 (reference already used) without the ticket's id")

    def find_jobs(self, reference: str) -> Sequence[RemoteJob]:
        route = "GET /v2/tickets?client_reference"
        response = self._api.call("GET", "/v2/tickets", route=route, params={"client_reference": reference})
        if response.status_code != 200:
            raise self._api.transport.failure(response, route, unsafe=False, item=False)
        data = self._api.transport.json(response, route, unsafe=False)
        items = data.get("tickets") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise RetriableError(f"ecospectrans {route}: the answer has no tickets list")
        jobs = []
        for item in items:
            try:
                job = remote_job(item)
            except WireError as exc:
                log.warning("lookup of %s: skipped a ticket that cannot be read (%s)", reference, exc)
                continue
            if job.reference in (None, reference):
                jobs.append(job)
        return jobs

    def resolve_pending(self, token: str) -> RemoteJob | None:
        route = "GET /v2/tickets/by-token/{token}"
        response = self._api.call("GET", f"/v2/tickets/by-token/{quote(token, safe='')}", route=route)
        if response.status_code == 404:
            return None  # not created yet
        if response.status_code != 200:
            raise self._api.transport.failure(response, route, unsafe=False, item=False)
        try:
            return remote_job(self._api.transport.json(response, route, unsafe=False))
        except WireError as exc:
            raise RetriableError(f"ecospectrans {route}: the ticket cannot be read ({exc})") from None

    # the status feed ---------------------------------------------------------------------------------
    def fetch_changes(self, cursor: str | None, limit: int) -> ChangePage:
        position = self._position(cursor)
        params = {"updated_since": position.since}
        if position.page:
            params["cursor"] = position.page
        route = "GET /v2/tickets"
        response = self._api.call("GET", "/v2/tickets", route=route, params=params)
        if response.status_code != 200:
            raise self._api.transport.failure(response, route, unsafe=False, item=False)
        data = self._api.transport.json(response, route, unsafe=False)
        if not isinstance(data, dict) or not isinstance(data.get("tickets"), list):
            raise RetriableError(f"ecospectrans {route}: the page has no tickets list")
        items: list[Any] = data["tickets"]
        server_next = data.get("next_cursor") if isinstance(data.get("next_cursor"), str) else None

        after = position.after_key()
        fresh: list[tuple[int, Any, Any]] = []  # what this page holds beyond what was taken before
        for index, item in enumerate(items):
            key = ticket_key(item)
            if key is not None and after is not None and key <= after:
                continue
            if key is None and index < position.taken:
                continue
            fresh.append((index, item, key))
        batch = fresh[: max(1, limit)]
        changes: list[StatusChange] = []
        rejects: list[RejectedItem] = []
        for index, item, _ in batch:
            try:
                changes.append(status_change(item))
            except WireError as exc:
                name = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
                rejects.append(RejectedItem(key=name or f"page-item-{index}", error=str(exc), payload=item))
                log.warning("feed: rejected %s (%s)", name or f"page item {index}", exc)

        if len(batch) < len(fresh):  # the page goes on: remember how far
            next_position, has_more = self._taken(position, batch), True
        elif server_next:
            next_position = FeedCursor(since=position.since, page=server_next)
            has_more = data.get("has_more") is True
        else:  # the utility gave no cursor: stay on this page past what was taken
            next_position = self._taken(position, batch) if batch else position
            has_more = False
        log.debug("feed: %d changes, %d rejected, more=%s", len(changes), len(rejects), has_more)
        return ChangePage(changes=changes, next_cursor=next_position.encode(), has_more=has_more, rejects=rejects)

    @staticmethod
    def _position(cursor: str | None) -> FeedCursor:
        if not cursor:
            return FeedCursor()
        try:
            return FeedCursor.decode(cursor)
        except ValueError as exc:
            raise FatalError(f"ecospectrans: the stored feed cursor is unusable: {exc}") from None

    @staticmethod
    def _taken(position: FeedCursor, batch: list[tuple[int, Any, Any]]) -> FeedCursor:
        """The same page, past ``batch``: its last readable order key and how many items it reached."""
        after_at, after_id = position.after_at, position.after_id
        for _, item, key in reversed(batch):
            if key is not None:
                after_at, after_id = item["updated_at"], key[1]
                break
        return replace(position, after_at=after_at, after_id=after_id, taken=batch[-1][0] + 1)

    # updates ---------------------------------------------------------------------------------------
    def push_update(self, job_id: str, update: JobUpdate) -> None:
        at = update.at if update.at.tzinfo else update.at.replace(tzinfo=UTC)
        stamp = at.astimezone(KYIV).strftime("%d.%m.%Y %H:%M")
        text = f"{UPDATE_PREFIXES.get(update.kind, 'Повідомлення контакт-центру')} ({stamp}): {update.text}"
        route = "POST /v2/tickets/{id}/comments"
        response = self._api.call(
            "POST",
            f"/v2/tickets/{quote(job_id, safe='')}/comments",
            route=route,
            unsafe=True,
            json={"text": text[:4000], "author": COMMENT_AUTHOR},
        )
        if response.status_code not in (200, 201):
            raise self._api.transport.failure(response, route, unsafe=True, item=True)
        log.info("comment (%s) added to ticket %s", update.kind, job_id)

    # planned works -----------------------------------------------------------------------------------
    def fetch_planned_works(self, since: datetime, until: datetime) -> WorksPage:
        def kyiv_day(moment: datetime) -> str:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            return moment.astimezone(KYIV).date().isoformat()

        route = "GET /v2/schedule-changes"
        params = {"from": kyiv_day(since), "to": kyiv_day(until)}
        response = self._api.call("GET", "/v2/schedule-changes", route=route, params=params)
        if response.status_code != 200:
            raise self._api.transport.failure(response, route, unsafe=False, item=False)
        data = self._api.transport.json(response, route, unsafe=False)
        items = data.get("schedule_changes") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise RetriableError(f"ecospectrans {route}: the answer has no schedule_changes list")
        page = WorksPage(works=[])
        for index, item in enumerate(items):
            try:
                page.works.append(planned_work(item))
            except WireError as exc:
                name = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
                page.rejects.append(RejectedItem(key=name or f"item-{index}", error=str(exc), payload=item))
                log.warning("schedule changes: rejected %s (%s)", name or f"item {index}", exc)
        return page

    def close(self) -> None:
        self._api.close()
