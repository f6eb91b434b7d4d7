"""Connector for КП «Кривбасводоканал»'s work-order API (REST/JSON, X-Api-Key).

Error classification (the engine decides what to do from the class alone):
- connection refused, DNS failure, connect timeout: RetriableError (nothing reached the utility).
- read timeout, connection reset or dropped, truncated body, unreadable or incomplete 2xx reply:
  AmbiguousError on a POST (create or note: it may have been committed), RetriableError on a GET
  (reads are safe to repeat; a GET that keeps failing is still bounded by the engine's retries).
- 5xx (and 408): RetriableError on a GET; AmbiguousError on a POST unless the reply is the API's own
  JSON refusal (``{"error": "maintenance" | "unavailable" | "rate_limited"}``), which is sent before
  the request is handled and so proves nothing was committed.
- 429: RetriableError with ``retry_after`` from ``Retry-After`` (seconds or an HTTP date).
- 401/403: FatalError. 3xx and a 404 that is not "order not found": FatalError (base_url is wrong).
- 409: PermanentError (an Idempotency-Key reused with a different body). 400/422: PermanentError
  naming the fields of the error list. 404 ``order_not_found``: PermanentError.
Messages name the operation, our reference and field names; never the API key, a phone number or
the server's free text unscrubbed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import quote

import requests
from urllib3.exceptions import ConnectTimeoutError

from connectors.vodokanal.contract import (
    API_PREFIX,
    FEED_MAX_LIMIT,
    HOUSE_SIDES,
    NOTICE_KINDS,
    NOTICE_SERVICES,
    NOTICE_STATES,
    STATUSES,
)
from gateway.addresses import HouseRange, StreetHouses
from gateway.connections import ConnectionConfig
from gateway.connector import (
    ChangePage,
    Connector,
    CreateResult,
    JobDraft,
    JobUpdate,
    PlannedWork,
    RejectedItem,
    RemoteJob,
    StatusChange,
    Timeouts,
    WorksPage,
)
from gateway.errors import AmbiguousError, FatalError, PermanentError, RetriableError
from gateway.http import parse_retry_after

log = logging.getLogger("gateway.connectors.vodokanal")

REFUSED_BEFORE_PROCESSING = frozenset({"maintenance", "unavailable", "rate_limited"})
MAX_PAGES = 1000
_PHONE_LIKE = re.compile(r"\+?\d[\d\s\-()]{7,}\d")


class _Unreadable(ValueError):
    """An item field the connector cannot read; the message names the field."""


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise _Unreadable(f"{field}: expected an ISO 8601 timestamp, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Unreadable(f"{field}: not an ISO 8601 timestamp") from None
    if moment.utcoffset() is None:
        raise _Unreadable(f"{field}: timestamp has no UTC offset")
    try:
        moment.astimezone(UTC)  # the gateway keeps UTC: an instant it cannot hold is unreadable
    except OverflowError:
        raise _Unreadable(f"{field}: timestamp out of range") from None
    return moment


def _optional_text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Unreadable(f"{name}: expected text, got {type(value).__name__}")
    return value.strip() or None


def _identifier(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise _Unreadable(f"{name}: missing or empty")
    return str(value).strip()


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class VodokanalConnector(Connector):
    """Work orders, change feed, notes and planned works of the water utility."""

    statuses = STATUSES
    idempotent_create = True
    feed_sequenced = True  # the change feed's seq orders a job's changes

    def __init__(self, connection: ConnectionConfig, *, timeouts: Timeouts | None = None) -> None:
        super().__init__(connection, timeouts=timeouts)
        if not connection.password:
            raise FatalError(f"connection {connection.conn_id}: no API key (set the connection's password)")
        base = connection.base_url.rstrip("/")
        self._base = base.removesuffix(API_PREFIX)
        self._secrets = [s for s in connection.secrets() if s]
        self._session = requests.Session()
        self._session.headers.update(
            {"X-Api-Key": connection.password, "Accept": "application/json", "User-Agent": "kr-contact-gateway"}
        )

    # interface ------------------------------------------------------------------------------------
    def create_job(self, job: JobDraft) -> CreateResult:
        what = f"create work order for {job.reference}"
        body = self._order_body(job, what)
        status, data = self._call(
            "POST",
            "/work-orders",
            what=what,
            body=body,
            headers={"Idempotency-Key": job.idempotency_key},
            hide=(job.contact_phone,),
        )
        if not isinstance(data, dict) or _positive_text(data.get("id")) is None:
            raise AmbiguousError(f"vodokanal: {what}: HTTP {status} reply has no order id")
        order_status = data.get("status") if isinstance(data.get("status"), str) else None
        log.info("vodokanal: %s: order %s%s", what, data["id"], " (replayed)" if status == 200 else "")
        return CreateResult(job_id=str(data["id"]), status=order_status)

    def find_jobs(self, reference: str) -> Sequence[RemoteJob]:
        what = f"look up orders of {reference}"
        _, data = self._call("GET", "/work-orders", what=what, params={"external_ref": reference})
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise RetriableError(f"vodokanal: {what}: reply has no items list")
        jobs = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise _Unreadable("item: expected an object")
                job_id = _identifier(item, "id")
                found_ref = _optional_text(item, "external_ref")
                created = item.get("created_at")
                created_at = _timestamp(created, "created_at") if created is not None else None
            except _Unreadable as exc:  # the proof of a create must be complete, so do not guess
                raise RetriableError(f"vodokanal: {what}: item {index}: {exc}") from None
            if found_ref not in (None, reference):
                continue
            status = item.get("status") if isinstance(item.get("status"), str) else None
            jobs.append(RemoteJob(job_id, found_ref or reference, status=status, created_at=created_at))
        return jobs

    def fetch_changes(self, cursor: str | None, limit: int) -> ChangePage:
        after = self._cursor(cursor)
        limit = max(1, min(int(limit), FEED_MAX_LIMIT))
        what = f"read change feed after {after}"
        _, data = self._call("GET", "/work-orders/changes", what=what, params={"after": after, "limit": limit})
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise RetriableError(f"vodokanal: {what}: reply has no items list")
        changes: list[StatusChange] = []
        rejects: list[RejectedItem] = []
        last = after
        for index, item in enumerate(items):
            seq = _positive_int(item.get("seq")) if isinstance(item, dict) else None
            try:
                change = self._change(item, after)
            except _Unreadable as exc:
                key = str(seq) if seq is not None else f"after {after}, item {index}"
                rejects.append(RejectedItem(key=key, error=str(exc), payload=item))
                log.warning("vodokanal: change feed item %s rejected: %s", key, exc)
            else:
                changes.append(change)
            if seq is not None:
                last = max(last, seq)
        next_after = _positive_int(data.get("next_after"))
        if next_after is not None:
            last = max(last, next_after)
        has_more = data.get("has_more")
        if not isinstance(has_more, bool):
            has_more = len(items) >= limit
        log.debug("vodokanal: %d changes, %d rejected, next cursor %d", len(changes), len(rejects), last)
        return ChangePage(changes=changes, next_cursor=str(last), has_more=has_more, rejects=rejects)

    def push_update(self, job_id: str, update: JobUpdate) -> None:
        what = f"send {update.kind} note to order {job_id}"
        body = {"kind": update.kind, "text": update.text, "at": update.at.isoformat()}
        # Derived from the update itself, so a repeat after an ambiguous failure cannot add a second note.
        key = hashlib.sha256(json.dumps([job_id, body], ensure_ascii=False).encode()).hexdigest()[:40]
        self._call(
            "POST",
            f"/work-orders/{quote(job_id, safe='')}/notes",
            what=what,
            body=body,
            headers={"Idempotency-Key": key},
        )
        log.info("vodokanal: %s: accepted", what)

    def close_job(self, job_id: str, update: JobUpdate) -> None:
        """Notes are the only way in; ``withdrawn`` is the kind that stops the crew's work."""
        self.push_update(job_id, replace(update, kind="withdrawn"))

    def fetch_planned_works(self, since: datetime, until: datetime) -> WorksPage:
        if since.utcoffset() is None or until.utcoffset() is None:
            raise ValueError("fetch_planned_works needs aware datetimes")
        works: dict[str, PlannedWork] = {}
        rejects: list[RejectedItem] = []
        page = 1
        while True:
            what = f"read planned works page {page}"
            params = {"from": since.isoformat(), "to": until.isoformat(), "page": page}
            _, data = self._call("GET", "/planned-works", what=what, params=params)
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise RetriableError(f"vodokanal: {what}: reply has no items list")
            for index, item in enumerate(items):
                try:
                    work = self._notice(item)
                except _Unreadable as exc:
                    notice_id = item.get("id") if isinstance(item, dict) else None
                    key = str(notice_id) if notice_id not in (None, "") else f"page {page}, item {index}"
                    rejects.append(RejectedItem(key=key, error=str(exc), payload=item))
                    log.warning("vodokanal: notice %s rejected: %s", key, exc)
                    continue
                known = works.get(work.notice_id)
                if known is None or work.revision >= known.revision:
                    works[work.notice_id] = work
            next_page = data.get("next_page")
            if next_page is None:
                break
            if _positive_int(next_page) is None or next_page <= page or next_page > MAX_PAGES:
                raise RetriableError(f"vodokanal: {what}: next_page {next_page!r} does not move forward")
            page = next_page
        return WorksPage(works=list(works.values()), rejects=rejects)

    def close(self) -> None:
        self._session.close()

    # requests -------------------------------------------------------------------------------------
    def _order_body(self, job: JobDraft, what: str) -> dict[str, Any]:
        if job.reported_at.utcoffset() is None:
            raise PermanentError(f"vodokanal: {what}: reported_at has no time zone")
        address: dict[str, Any] = {"street": job.street, "house": job.house}
        if job.flat is not None:
            address["flat"] = job.flat
        if job.lat is not None and job.lon is not None:  # the API takes both or neither
            address["lat"] = job.lat
            address["lon"] = job.lon
        body: dict[str, Any] = {
            "external_ref": job.reference,
            "job_type": job.job_type,
            "priority": job.priority,
            "address": address,
            "description": job.description,
            "reported_at": job.reported_at.isoformat(),
        }
        if job.contact_phone is not None:
            body["contact_phone"] = job.contact_phone
        return body

    def _cursor(self, cursor: str | None) -> int:
        if cursor is None or cursor == "":
            return 0
        if not cursor.isdigit():
            raise FatalError(f"vodokanal: cursor {cursor!r} is not a change feed seq")
        return int(cursor)

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        hide: Sequence[str | None] = (),
    ) -> tuple[int, Any]:
        """One HTTP exchange; returns (status, parsed JSON) of a 2xx reply or raises a classified error."""
        unsafe = method != "GET"
        hidden = [h for h in hide if h]
        try:
            response = self._session.request(
                method,
                self._base + API_PREFIX + path,
                params=params,
                json=body,
                headers=headers,
                timeout=(self.timeouts.connect, self.timeouts.read),
                allow_redirects=False,
            )
        except requests.exceptions.ConnectTimeout:
            raise RetriableError(f"vodokanal: {what}: connect timeout", detail="ConnectTimeout") from None
        except requests.exceptions.ReadTimeout:
            raise self._uncertain(what, unsafe, "no reply within the read timeout", "ReadTimeout") from None
        except requests.exceptions.ConnectionError as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            if isinstance(reason, ConnectTimeoutError):  # refused, DNS, unreachable: nothing was sent
                raise RetriableError(f"vodokanal: {what}: cannot connect", detail=type(reason).__name__) from None
            raise self._uncertain(what, unsafe, "connection dropped", type(exc).__name__) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            raise self._uncertain(what, unsafe, "reply cut short", type(exc).__name__) from None
        except requests.exceptions.RequestException as exc:  # invalid URL or scheme: configuration
            raise FatalError(f"vodokanal: {what}: request failed ({type(exc).__name__}); check base_url") from None

        status = response.status_code
        log.debug("vodokanal: %s %s -> HTTP %d", method, path, status)
        data = self._json(response)
        if 200 <= status < 300:
            if data is _NOT_JSON:
                raise self._uncertain(what, unsafe, f"HTTP {status} reply is not JSON", "invalid JSON")
            return status, data
        self._raise_for(status, data, response, what, unsafe, hidden)

    def _raise_for(
        self, status: int, data: Any, response: requests.Response, what: str, unsafe: bool, hidden: list[str]
    ) -> NoReturn:
        error = data if isinstance(data, dict) else {}
        code = error.get("error") if isinstance(error.get("error"), str) else None
        detail = self._scrub(str(error.get("detail") or ""), hidden)[:300] or None
        prefix = f"vodokanal: {what}: HTTP {status}"
        if status in (401, 403):
            raise FatalError(f"{prefix}: API key refused; check the password of connection {self.connection.conn_id}")
        if status == 429 or (code in REFUSED_BEFORE_PROCESSING and status >= 500):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetriableError(
                f"{prefix}: refused before processing ({code or 'throttled'})", retry_after=retry_after, detail=detail
            )
        if status >= 500 or status == 408:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if unsafe:
                raise AmbiguousError(
                    f"{prefix}: server error after the request was sent; it may have been applied", detail=detail
                )
            raise RetriableError(f"{prefix}: server error", retry_after=retry_after, detail=detail)
        if status == 409:
            order = error.get("order_id")
            suffix = f" (first used for order {order})" if isinstance(order, str | int) else ""
            raise PermanentError(f"{prefix}: Idempotency-Key reused with a different body{suffix}", detail=detail)
        if status in (400, 422):
            raise PermanentError(f"{prefix}: refused: {self._fields(error, code)}", detail=detail)
        if status == 404 and code == "order_not_found":
            raise PermanentError(f"{prefix}: the utility has no such order", detail=detail)
        if status == 404 or 300 <= status < 400:
            raise FatalError(f"{prefix}: endpoint not found or moved; check base_url", detail=detail)
        raise PermanentError(f"{prefix}: unexpected reply ({code or 'no error code'})", detail=detail)

    @staticmethod
    def _uncertain(what: str, unsafe: bool, why: str, detail: str) -> AmbiguousError | RetriableError:
        """A failure after the request may have been sent: ambiguous for a POST, retriable for a GET."""
        if unsafe:
            return AmbiguousError(f"vodokanal: {what}: {why}; it may have been applied", detail=detail)
        return RetriableError(f"vodokanal: {what}: {why}", detail=detail)

    @staticmethod
    def _json(response: requests.Response) -> Any:
        if not response.content:
            return _NOT_JSON
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            return _NOT_JSON

    @staticmethod
    def _fields(error: dict[str, Any], code: str | None) -> str:
        entries = error.get("errors")
        if isinstance(entries, list) and entries:
            parts = []
            for entry in entries:
                if isinstance(entry, dict):
                    parts.append(f"{entry.get('field', '?')} {entry.get('code') or 'invalid'}")
            if parts:
                return "; ".join(parts)
        return code or "no error list"

    def _scrub(self, text: str, hidden: Sequence[str] = ()) -> str:
        for secret in [*self._secrets, *hidden]:
            text = text.replace(secret, "***")
        return _PHONE_LIKE.sub("***", text)

    # items ----------------------------------------------------------------------------------------
    def _change(self, item: Any, after: int) -> StatusChange:
        if not isinstance(item, dict):
            raise _Unreadable("item: expected an object")
        seq = _positive_int(item.get("seq"))
        if seq is None:
            raise _Unreadable("seq: missing or not a positive integer")
        if seq <= after:
            raise _Unreadable(f"seq: {seq} is not after the cursor {after}")
        job_id = _identifier(item, "order_id")
        status = item.get("status")
        if not isinstance(status, str) or not status:
            raise _Unreadable("status: missing")
        if status not in STATUSES:
            raise _Unreadable(f"status: unknown {status[:40]!r}")
        changed_at = _timestamp(item.get("changed_at"), "changed_at")
        # Informational: a comment, crew or reference that is not text is dropped, the change still counts.
        comment = _lenient_text(item.get("comment"))
        crew = _lenient_text(item.get("crew"))
        if crew and (not comment or crew not in comment):
            comment = f"{comment}. Бригада: {crew}" if comment else f"Бригада: {crew}"
        return StatusChange(
            change_id=str(seq),
            job_id=job_id,
            status=status,
            changed_at=changed_at,
            position=seq,
            reference=_lenient_text(item.get("external_ref")),
            comment=comment,
        )

    def _notice(self, item: Any) -> PlannedWork:
        if not isinstance(item, dict):
            raise _Unreadable("notice: expected an object")
        notice_id = _identifier(item, "id")
        version = _positive_int(item.get("version"))
        if version is None:
            raise _Unreadable("version: missing or not a positive integer")
        kind, service, state = item.get("kind"), item.get("service"), item.get("state", "active")
        # isinstance first: a list or an object here is unhashable and would escape as TypeError
        if not isinstance(kind, str) or kind not in NOTICE_KINDS:
            raise _Unreadable(f"kind: expected one of {sorted(NOTICE_KINDS)}")
        if not isinstance(service, str) or service not in NOTICE_SERVICES:
            raise _Unreadable(f"service: expected one of {sorted(NOTICE_SERVICES)}")
        if not isinstance(state, str) or state not in NOTICE_STATES:
            raise _Unreadable(f"state: expected one of {sorted(NOTICE_STATES)}")
        starts_at = _timestamp(item.get("starts_at"), "starts_at")
        ends_at = None if item.get("ends_at") is None else _timestamp(item["ends_at"], "ends_at")
        if ends_at is not None and ends_at < starts_at:
            raise _Unreadable("ends_at: before starts_at")
        addresses, unparsed = self._addresses(item.get("addresses"))
        # Informational fields: an unreadable one is dropped, the notice still reaches residents.
        households = item.get("households")
        published = item.get("published_at")
        try:
            announced_at = _timestamp(published, "published_at") if published is not None else None
        except _Unreadable:
            announced_at = None
        return PlannedWork(
            notice_id=notice_id,
            revision=version,
            kind=kind,
            service=service,
            starts_at=starts_at,
            ends_at=ends_at,
            addresses=addresses,
            unparsed_lines=unparsed,
            reason=_lenient_text(item.get("reason")),
            households=households if _plausible_count(households) else None,
            tanker_location=_lenient_text(item.get("tanker_location")),
            contact_phone=_lenient_text(item.get("contact_phone")),
            cancelled=state == "cancelled",
            announced_at=announced_at,
        )

    @staticmethod
    def _addresses(raw: Any) -> tuple[tuple[StreetHouses, ...], tuple[str, ...]]:
        """Structured addresses; an entry that cannot be read is kept verbatim in unparsed lines."""
        if not isinstance(raw, list) or not raw:
            raise _Unreadable("addresses: expected a non-empty list")
        found: list[StreetHouses] = []
        unparsed: list[str] = []
        for entry in raw:
            street = entry.get("street") if isinstance(entry, dict) else None
            if not isinstance(street, str) or not street.strip():
                unparsed.append(json.dumps(entry, ensure_ascii=False))
                continue
            street = street.strip()
            houses = entry.get("houses")
            if isinstance(houses, str) and houses.strip().casefold() == "all":
                found.append(StreetHouses(street=street, whole_street=True))
            elif isinstance(houses, dict):
                house_range = _house_range(houses)
                if house_range is None:
                    unparsed.append(f"{street}: {json.dumps(houses, ensure_ascii=False)}")
                else:
                    found.append(StreetHouses(street=street, ranges=(house_range,)))
            elif isinstance(houses, list) and houses:
                good = []
                for house in houses:
                    text = str(house).strip() if isinstance(house, str | int) and not isinstance(house, bool) else ""
                    if text:
                        good.append(text)
                    else:
                        unparsed.append(f"{street}: {json.dumps(house, ensure_ascii=False)}")
                if good:
                    found.append(StreetHouses(street=street, houses=tuple(good)))
            else:
                unparsed.append(f"{street}: {json.dumps(houses, ensure_ascii=False)}")
        return tuple(found), tuple(unparsed)


_NOT_JSON = object()


def _positive_text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _plausible_count(value: Any) -> bool:
    """A household count a city can have (a database column holds it: an absurd one is dropped)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10_000_000


def _lenient_text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _house_range(raw: dict[str, Any]) -> HouseRange | None:
    start, end, side = raw.get("from"), raw.get("to"), raw.get("side")
    if isinstance(start, str) and start.isdigit():
        start = int(start)
    if isinstance(end, str) and end.isdigit():
        end = int(end)
    if _positive_int(start) is None or _positive_int(end) is None or start > end:
        return None
    if side is not None and (not isinstance(side, str) or side not in HOUSE_SIDES):
        return None
    return HouseRange(start=start, end=end, parity=side)
