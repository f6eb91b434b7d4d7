"""Connector for КП «Кривбасводоканал»'s work-order API (REST/JSON, X-Api-Key, Idempotency-Key).

Failures: ``RULES``, read by the toolkit's classifier. The API's own JSON refusal on a 5xx (maintenance,
unavailable, rate_limited) is sent before the request is handled, so it proves nothing was applied.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.vodokanal import wire
from gateway import connector as api
from gateway.connections import ConnectionConfig
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError
from gateway.toolkit import timestamps as ts
from gateway.toolkit.failures import CLIENT_ERRORS, REDIRECTS, SERVER_ERRORS, Rule
from gateway.toolkit.http import HttpClient, items_of
from gateway.toolkit.paging import sequence_cursor, walk_pages
from gateway.toolkit.redact import scrub_contacts

log = logging.getLogger("gateway.connectors.vodokanal")

RULES = (
    Rule("fatal", "API key refused; check the connection's password", status={401, 403}),
    Rule("retriable", "refused before processing", status={429}),
    Rule("retriable", "refused before processing", status=SERVER_ERRORS, code={"maintenance", "unavailable",
                                                                                 "rate_limited"}),
    Rule("uncertain", "server error", status=(*SERVER_ERRORS, 408)),
    Rule("permanent", "Idempotency-Key reused with a different body", status={409}),
    Rule("permanent", "refused", status={400, 422}),
    Rule("permanent", "the utility has no such order", status={404}, code={"order_not_found"}),
    Rule("fatal", "endpoint not found or moved; check base_url", status=(404, *REDIRECTS)),
    Rule("permanent", "unexpected reply", status=CLIENT_ERRORS),
)


class VodokanalConnector(api.Connector):
    """Work orders, change feed, notes and planned works of the water utility."""

    statuses: ClassVar[frozenset[str]] = wire.STATUSES
    idempotent_create: ClassVar[bool] = True

    def __init__(self, connection: ConnectionConfig, *, timeouts: api.Timeouts | None = None) -> None:
        super().__init__(connection, timeouts=timeouts)
        if not connection.password:
            raise FatalError(f"connection {connection.conn_id}: no API key (set the connection's password)")
        key = {"X-Api-Key": connection.password}
        self._http = HttpClient("vodokanal", connection, self.timeouts, RULES, headers=key, prefix=wire.API_PREFIX,
                                label="vodokanal:")

    def create_job(self, job: api.JobDraft) -> api.CreateResult:
        what = f"create work order for {job.reference}"
        if job.reported_at.utcoffset() is None:
            raise PermanentError(f"vodokanal: {what}: reported_at has no time zone")
        headers = {"Idempotency-Key": job.idempotency_key}
        status, data = self._call("POST", "/work-orders", what, json=wire.order_body(job), headers=headers)
        if not isinstance(data, dict) or isinstance(data.get("id"), bool) or not str(data.get("id") or "").strip():
            raise AmbiguousError(f"vodokanal: {what}: HTTP {status} reply has no order id")
        log.info("vodokanal: %s: order %s%s", what, data["id"], " (replayed)" if status == 200 else "")
        return api.CreateResult(job_id=str(data["id"]), status=ts.lenient_text(data.get("status")))

    def find_jobs(self, reference: str) -> Sequence[api.RemoteJob]:
        what = f"look up orders of {reference}"
        jobs, rejects = ts.read_each(self._items("GET", "/work-orders", what, params={"external_ref": reference}),
                                     wire.remote_job, lambda i, _: f"item {i}", f"vodokanal {what}")
        if rejects:  # the proof of a create must be complete, so do not guess
            raise RetriableError(f"vodokanal: {what}: {rejects[0].key}: {rejects[0].error}")
        return [replace(job, reference=reference) for job in jobs if job.reference in (None, reference)]

    def fetch_changes(self, cursor: str | None, limit: int) -> api.ChangePage:
        after = sequence_cursor(cursor, "vodokanal")
        limit = max(1, min(int(limit), wire.FEED_MAX_LIMIT))
        what = f"read change feed after {after}"
        _, data = self._call("GET", "/work-orders/changes", what, params={"after": after, "limit": limit})
        items = items_of(data, "items", f"vodokanal: {what}")
        key = lambda i, x: ts.id_or(x, "seq", f"after {after}, item {i}", ts.positive_int)  # noqa: E731
        changes, rejects = ts.read_each(items, lambda item: wire.change(item, after), key, "vodokanal")
        seqs = [ts.positive_int(item.get("seq")) or 0 for item in items if isinstance(item, dict)]
        last = max([after, ts.positive_int(data.get("next_after")) or 0, *seqs])
        has_more = data.get("has_more") if isinstance(data.get("has_more"), bool) else len(items) >= limit
        return api.ChangePage(changes=changes, next_cursor=str(last), has_more=has_more, rejects=rejects)

    def push_update(self, job_id: str, update: api.JobUpdate) -> None:
        what = f"send {update.kind} note to order {job_id}"
        # notes never carry contacts: a phone the mapping sends travels in its own field, at create
        body = {"kind": update.kind, "text": scrub_contacts(update.text), "at": update.at.isoformat()}
        # Derived from the update itself, so a repeat after an ambiguous failure cannot add a second note.
        key = hashlib.sha256(json.dumps([job_id, body], ensure_ascii=False).encode()).hexdigest()[:40]
        self._call("POST", f"/work-orders/{quote(job_id, safe='')}/notes", what, json=body,
                   headers={"Idempotency-Key": key})
        log.info("vodokanal: %s: accepted", what)

    def fetch_planned_works(self, since: datetime, until: datetime) -> api.WorksPage:
        if since.utcoffset() is None or until.utcoffset() is None:
            raise ValueError("fetch_planned_works needs aware datetimes")
        works: dict[str, api.PlannedWork] = {}
        rejects: list[api.RejectedItem] = []

        def fetch(page: int) -> tuple[tuple[int, list[Any]], int | None]:
            what = f"read planned works page {page}"
            params = {"from": since.isoformat(), "to": until.isoformat(), "page": page}
            _, data = self._call("GET", "/planned-works", what, params=params)
            return (page, items_of(data, "items", f"vodokanal: {what}")), data.get("next_page")

        for page, items in walk_pages(fetch, 1, "vodokanal: read planned works"):
            found, bad = ts.read_each(items, wire.notice, lambda i, x, p=page: ts.id_or(x, "id", f"page {p}, item {i}"),
                                      "vodokanal notices")
            rejects += bad
            for work in found:
                if work.notice_id not in works or work.revision >= works[work.notice_id].revision:
                    works[work.notice_id] = work
        return api.WorksPage(works=list(works.values()), rejects=rejects)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> tuple[int, Any]:
        return self._http.call(method, path, what=what, write=method != "GET", **kwargs)

    def _items(self, method: str, path: str, what: str, **kwargs: Any) -> list[Any]:
        return items_of(self._call(method, path, what, **kwargs)[1], "items", f"vodokanal: {what}")
