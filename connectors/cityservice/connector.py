"""Connector for ТОВ «СІТІСЕРВІС-КР»'s requests API (REST/JSON, HTTP Basic), on the toolkit.

- Creates carry no idempotency key; the utility recognises our number instead and answers a repeat
  409 ``already_exists`` with the existing id, which is adopted: never an error, never a second job.
- Changes come from ``GET /api/requests?modified_after=&page=``: current state only, whole-second
  timestamps, 50 a page, ordered by (modified_at, id). The cursor is a ``WindowCursor``: the newest
  timestamp taken plus the keys taken at it. Each read asks from one second before that timestamp
  (an overlap of exactly the tie second) and skips what was taken, so a tie that straddles a page
  border is neither lost nor applied twice; pages that hold only what was taken are walked past.
  Each read starts again from the watermark, so a request modified while we page (it moves to the
  end of the list) cannot shift an unread one onto a page already read.
- Two states of one request within one second are ordered by the status order (``position``); a
  comment alone, at the same status within the same second, is not a change.
- Comments are not idempotent: a comment repeated after an ambiguous failure may appear twice.
- No planned works (the manifest declares no such stream).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from gateway import connector as api
from gateway.connections import ConnectionConfig
from gateway.errors import AmbiguousError, FatalError
from gateway.toolkit import timestamps as ts
from gateway.toolkit.failures import CLIENT_ERRORS, REDIRECTS, SERVER_ERRORS, Rule
from gateway.toolkit.http import HttpClient, error_body, items_of
from gateway.toolkit.paging import WindowCursor, walk_pages
from gateway.toolkit.redact import outbound_text, scrub_contacts

log = logging.getLogger("gateway.connectors.cityservice")

RULES = (
    Rule("fatal", "credentials refused; check the connection's login and password", status={401, 403}),
    Rule("retriable", "refused before processing", status={429}),
    Rule("uncertain", "server error", status=(*SERVER_ERRORS, 408)),
    Rule("permanent", "refused", status={400, 422}),
    Rule("permanent", "the utility has no such request", status={404}, code={"request_not_found"}),
    Rule("fatal", "endpoint not found or moved; check base_url", status=(404, *REDIRECTS)),
    Rule("permanent", "unexpected reply", status=CLIENT_ERRORS),
)
# The order a request's states follow: it breaks ties between two states of one request in one second.
STATUS_RANK = {"прийнято": 1, "в роботі": 2, "виконано": 3, "відхилено": 3}
TIE = timedelta(seconds=1)  # the feed's resolution: everything within one second shares a timestamp
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)  # the first read: everything the utility keeps
LOOKUP_WINDOW = timedelta(days=7)  # a lookup follows an ambiguous create, so the job is recent
UPDATE_LABELS = {"rework": "Повторне звернення", "withdrawn": "Заявку відкликано заявником", "details": "Уточнення",
                 "closed": "Заявку закрито контакт-центром"}


def address_line(job: api.JobDraft) -> str:
    return f"{job.street}, буд. {job.house}" + (f", кв. {job.flat}" if job.flat else "")


def change_of(item: Any) -> api.StatusChange:
    """One request's current state as a change; its key is the request, the instant and the status."""
    item = ts.obj(item)
    job_id, status = ts.identifier(item, "id"), ts.one_of(item, "status", tuple(STATUS_RANK))
    changed_at = ts.instant(item, "modified_at")
    return api.StatusChange(change_id=f"{job_id}@{changed_at.astimezone(UTC).isoformat()}@{status}", job_id=job_id,
                            status=status, changed_at=changed_at, position=STATUS_RANK[status],
                            reference=ts.lenient_text(item.get("our_number")),
                            comment=ts.lenient_text(item.get("comment")))


def _reject_key(reject: api.RejectedItem) -> str:
    """A rejected item is reported once per state, as a readable one is taken once."""
    at = reject.payload.get("modified_at") if isinstance(reject.payload, dict) else None
    return f"reject:{reject.key}@{at}"


def _instant_of(key: str) -> datetime | None:
    """The instant a cursor key carries (None: none readable, the key is forgotten)."""
    try:
        at = datetime.fromisoformat(key.split("@")[1])
    except (IndexError, ValueError):
        return None
    return at if at.utcoffset() is not None else None


class CityserviceConnector(api.Connector):
    """Requests, the modified-after list and comments of the building-upkeep contractor."""

    statuses: ClassVar[frozenset[str]] = frozenset(STATUS_RANK)
    idempotent_create: ClassVar[bool] = True  # a repeat with our number answers the existing id

    def __init__(self, connection: ConnectionConfig, *, timeouts: api.Timeouts | None = None) -> None:
        super().__init__(connection, timeouts=timeouts)
        if not connection.login or not connection.password:
            raise FatalError(f"connection {connection.conn_id}: HTTP Basic needs a login and a password")
        self._http = HttpClient("cityservice", connection, self.timeouts, RULES, label="cityservice:")
        self._http.session.auth = (connection.login, connection.password)

    def create_job(self, job: api.JobDraft) -> api.CreateResult:
        what = f"create request for {job.reference}"
        body = {"our_number": job.reference, "type": job.job_type, "address": address_line(job),
                "description": outbound_text(job.description, phone_sent=False)}
        response = self._http.send("POST", "/api/requests", what=what, write=True, json=body)
        adopted = response.status_code == 409 and error_body(response).get("error") == "already_exists"
        if adopted:
            data: Any = error_body(response)
        elif response.status_code == 201:
            data = self._http.json(response, what, write=True)
        else:
            raise self._http.failure(response, what, write=True)
        job_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(job_id, bool) or not isinstance(job_id, str | int) or not str(job_id).strip():
            raise AmbiguousError(f"cityservice: {what}: HTTP {response.status_code} reply has no request id")
        log.info("cityservice: %s: request %s%s", what, job_id, " (already there: adopted)" if adopted else "")
        return api.CreateResult(job_id=str(job_id), status=None if adopted else ts.lenient_text(data.get("status")))

    def find_jobs(self, reference: str) -> Sequence[api.RemoteJob]:
        """The API has no lookup by our number: the recent list is read and filtered (rare: after an
        ambiguous create). A job older than the window is not found, and the create then repeated is
        answered 409 with its id, so nothing doubles either way."""
        since = datetime.now(UTC) - LOOKUP_WINDOW
        found = []
        for _, items, _ in self._pages(since, f"look up requests of {reference}"):
            for item in items:
                if isinstance(item, dict) and item.get("our_number") == reference:
                    found.append(api.RemoteJob(ts.identifier(item, "id"), reference,
                                               status=ts.lenient_text(item.get("status")),
                                               created_at=ts.lenient_instant(item, "created_at")))
        return found

    def job_known(self, job_id: str, reference: str) -> bool:
        """By the request's own id: the list (and so ``find_jobs``) only reaches back a window."""
        what = f"check request {job_id} of {reference}"
        response = self._http.send("GET", f"/api/requests/{quote(job_id, safe='')}", what=what, write=False)
        if response.status_code == 404:
            return False
        if not 200 <= response.status_code < 300:
            raise self._http.failure(response, what, write=False)
        return True

    def fetch_changes(self, cursor: str | None, limit: int) -> api.ChangePage:
        """The next changes after the cursor; the utility fixes the page size, so ``limit`` is unused."""
        state = WindowCursor.decode(cursor, "cityservice") if cursor else WindowCursor(BEGINNING)
        newest, fresh, rejects, more = state.watermark, [], [], False
        for page, items, following in self._pages(state.watermark - TIE, "read changes"):
            read, bad = ts.read_each(items, change_of, lambda i, x, p=page: ts.id_or(x, "id", f"page {p}, item {i}"),
                                     "cityservice changes")
            fresh += [c for c in read if state.first(c.change_id)]
            rejects += [r for r in bad if state.first(_reject_key(r))]
            newest = max([newest, *(c.changed_at.astimezone(UTC) for c in read)])
            if fresh or rejects or following is None:
                more = following is not None
                break
        state.watermark = newest
        state.prune(lambda key: (at := _instant_of(key)) is not None and at > newest - TIE)
        return api.ChangePage(changes=fresh, next_cursor=state.encode(), has_more=more, rejects=rejects)

    def push_update(self, job_id: str, update: api.JobUpdate) -> None:
        what = f"send {update.kind} comment to request {job_id}"
        text = f"{UPDATE_LABELS[update.kind]}: {scrub_contacts(update.text)}"[:2000]
        self._http.call("POST", f"/api/requests/{quote(job_id, safe='')}/comments", what=what, write=True,
                        json={"text": text})
        log.info("cityservice: %s: accepted", what)

    def close(self) -> None:
        self._http.close()

    def _pages(self, since: datetime, what: str) -> Iterator[tuple[int, list[Any], int | None]]:
        """(page number, items, next page) of the list of requests modified after ``since``."""
        def fetch(page: int) -> tuple[tuple[int, list[Any], int | None], int | None]:
            params = {"modified_after": since.isoformat(), "page": page}
            _, data = self._http.call("GET", "/api/requests", what=f"{what}, page {page}", write=False, params=params)
            following = data.get("next_page") if isinstance(data, dict) else None
            return (page, items_of(data, "items", f"cityservice: {what}, page {page}"), following), following

        yield from walk_pages(fetch, 1, f"cityservice: {what}")

