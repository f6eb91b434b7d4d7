"""АТ «Криворізька теплоцентраль»: the legacy SOAP 1.1 complaint service, through zeep.

The WSDL is the file the utility handed over (``wsdl/``), never fetched; the zeep client is built on
first use, not at import, so DAG parsing stays cheap. The endpoint comes from the Connection
(``base_url``), credentials travel as a WS-Security UsernameToken.

Connection extras (all optional):
  overlap_minutes        how far each change window reaches back before the last one (default 5:
                         the service writes changes up to 2 minutes late; the rest absorbs clock skew)
  initial_lookback_hours where the feed starts without a cursor (default 72)
  max_window_hours       the longest window asked at once while catching up (default 24)
  outage_window_days     the longest window asked of GetPlannedOutages (default 30; the service refuses
                         more than 31 days, so longer ranges go in slices)
  password_digest        send the password as a PasswordDigest instead of PasswordText (default false)

The change feed (``fetch_changes``) in short — details at the method:
- each pull asks GetStatusChanges for [watermark - overlap, now], converted to Kyiv wall time;
- changes already returned are dropped by key (ComplaintId|StatusCode|ChangedAt), the keys kept in the
  cursor for as long as a later window could return them again;
- wall times become aware UTC; in the repeated autumn hour the window decides which of the two
  instants is meant.

Replies are read strictly, item by item (``soap.ItemScreenPlugin``): a reply whose Body is not the
operation's response is unreadable as a whole (never "no changes"), while one item of a list that does not
fit the schema, or a date-time the gateway cannot hold, is a RejectedItem and the rest of the list goes on.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors.teplotsentral.localtime import (
    candidates,
    floor_second,
    is_real,
    require_aware,
    resolve,
    to_wall,
    wall_floor,
    wall_span,
    wire,
)
from connectors.teplotsentral.soap import ScreenedItem, build_screened_service
from zeep.helpers import serialize_object

from connectors.teplotsentral.contract import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    OUTAGE_KINDS,
    OUTAGE_SERVICES,
    REGISTERED,
    STATUS_CODES,
    STATUS_RANK,
)
from connectors.teplotsentral.cursor import ChangeCursor, change_key
from connectors.teplotsentral.failures import classify
from gateway.addresses import StreetHouses, parse_address_line
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
from gateway.errors import AmbiguousError, FatalError, PermanentError

log = logging.getLogger("gateway.connectors.teplotsentral")

# Text the utility's dispatchers read: Ukrainian.
UPDATE_PREFIXES = {
    "rework": "Контакт-центр 1520: заявку повернуто на доопрацювання. ",
    "withdrawn": "Контакт-центр 1520: заявник відкликав заявку. ",
    "details": "Контакт-центр 1520: додаткова інформація від заявника. ",
}
URGENT_PREFIX = "ТЕРМІНОВО (SOS). "


def _fit(text: str, limit: int) -> str:
    """Shorten free text to the service's field limit rather than lose the whole request."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def normalize_phone(phone: str | None) -> str | None:
    """+380XXXXXXXXX as the XSD wants it, or None when the number cannot be read as Ukrainian."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 12 and digits.startswith("380"):
        return "+" + digits
    if len(digits) == 10 and digits.startswith("0"):
        return "+38" + digits
    return None


def _jsonable(value: Any) -> Any:
    """A zeep reply item as plain JSON-ready data, for dead letters."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _payload(item: Any) -> Any:
    return _jsonable(serialize_object(item, dict))


def _field(item: Any, name: str) -> Any:
    try:
        return item[name]
    except (KeyError, TypeError, AttributeError):
        return getattr(item, name, None)


def _holdable(value: datetime) -> bool:
    """Whether a date-time from the service converts to UTC and back to Kyiv time (year 1 or 9999
    at the edge does not): one that does not is unreadable, not an OverflowError mid-batch."""
    try:
        if value.tzinfo is not None:
            to_wall(value)
        else:
            candidates(value)
    except OverflowError:
        return False
    return True


def _xml_key(item: ScreenedItem) -> str:
    """A key for an item that names no id: stable while the service sends the same XML."""
    return "xml:" + hashlib.sha256(item.xml.encode()).hexdigest()[:16]


def _screened_change(item: ScreenedItem, state: ChangeCursor) -> RejectedItem | None:
    """A change screened out of the reply; reported once, like any rejected change, when its key
    can be told (a repeat from an overlapping window is then None)."""
    complaint_id = (item.fields.get("ComplaintId") or "").strip()
    status = (item.fields.get("StatusCode") or "").strip()
    try:
        wall = datetime.fromisoformat((item.fields.get("ChangedAt") or "").strip())
    except ValueError:
        wall = None
    if wall is None or wall.tzinfo is not None or not complaint_id:
        return RejectedItem(_xml_key(item), item.error, item.xml)
    key = change_key(complaint_id, status, floor_second(wall))
    if key in state.seen:
        return None
    state.seen.add(key)
    return RejectedItem(key, item.error, item.xml)


class TeplotsentralConnector(Connector):
    statuses: ClassVar[frozenset[str]] = frozenset(STATUS_CODES)
    idempotent_create: ClassVar[bool] = False

    def __init__(
        self,
        connection: ConnectionConfig,
        *,
        timeouts: Timeouts | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(connection, timeouts=timeouts)
        extra = connection.extra or {}
        self._clock = clock or (lambda: datetime.now(UTC))
        self.overlap = timedelta(minutes=float(extra.get("overlap_minutes", 5)))
        self.initial_lookback = timedelta(hours=float(extra.get("initial_lookback_hours", 72)))
        self.max_window = timedelta(hours=float(extra.get("max_window_hours", 24)))
        self.outage_window = timedelta(days=float(extra.get("outage_window_days", 30)))
        self._digest = str(extra.get("password_digest", "false")).lower() in {"1", "true", "yes"}
        if self.overlap < timedelta(minutes=3):
            raise FatalError("teplotsentral: overlap_minutes must exceed the service's 2-minute late writes")
        self._service: Any = None
        self._transport: Any = None
        self._screen: Any = None

    # plumbing -------------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return require_aware(self._clock(), "clock()")

    def _proxy(self) -> Any:
        if self._service is None:
            if not self.connection.login or not self.connection.password:
                raise FatalError(f"teplotsentral: connection {self.connection.conn_id!r} needs a login and a password")
            self._service, self._transport, self._screen = build_screened_service(
                address=self.connection.base_url,
                username=self.connection.login,
                password=self.connection.password,
                use_digest=self._digest,
                connect_timeout=self.timeouts.connect,
                read_timeout=self.timeouts.read,
                logger=log,
            )
        return self._service

    def _call(self, operation: str, *, write: bool, **arguments: Any) -> Any:
        service = self._proxy()
        self._transport.begin()
        self._screen.begin()
        try:
            return getattr(service, operation)(**arguments)
        except Exception as exc:
            error = classify(exc, operation, write=write, sent=self._transport.sent, secrets=self.connection.secrets())
            log.warning("%s (%s)", error, error.detail)
            raise error from None

    def _call_list(self, operation: str, **arguments: Any) -> tuple[list[Any], list[ScreenedItem]]:
        """A read returning a list: the items zeep read, and those screened out as not fitting the schema."""
        items = self._call(operation, write=False, **arguments)
        return list(items or []), self._screen.take()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.session.close()
        self._service = self._transport = self._screen = None

    # jobs -------------------------------------------------------------------------------------------
    def create_job(self, job: JobDraft) -> CreateResult:
        try:
            registered = wire(to_wall(job.reported_at))
        except ValueError:
            raise PermanentError("teplotsentral RegisterComplaint: reported_at must be an aware datetime") from None
        description = job.description.strip()
        if job.priority == "emergency":
            description = URGENT_PREFIX + description
        if len(description) > DESCRIPTION_MAX:
            log.info("request %s: description shortened to %d characters", job.reference, DESCRIPTION_MAX)
        phone = normalize_phone(job.contact_phone)
        if job.contact_phone and phone is None:
            log.warning("request %s: contact phone is not a Ukrainian number; sent without it", job.reference)
        address = {"Street": job.street.strip(), "House": job.house.strip(), "Flat": (job.flat or "").strip() or None}
        complaint_id = self._call(
            "RegisterComplaint",
            write=True,
            ExternalNumber=job.reference,
            ComplaintType=job.job_type,
            Address=address,
            Description=_fit(description, DESCRIPTION_MAX),
            Phone=phone,
            RegisteredAt=registered,
        )
        if not complaint_id:
            # Something came back, but not the number: the complaint may exist all the same.
            raise AmbiguousError("teplotsentral RegisterComplaint: reply without a ComplaintId")
        log.info("request %s registered as complaint %s", job.reference, complaint_id)
        return CreateResult(job_id=str(complaint_id), status=REGISTERED)

    def find_jobs(self, reference: str) -> Sequence[RemoteJob]:
        items = self._call("FindComplaints", write=False, ExternalNumber=reference) or []
        jobs = []
        for item in items:
            complaint_id = _field(item, "ComplaintId")
            if not complaint_id:
                log.warning("FindComplaints(%s): a complaint without ComplaintId ignored", reference)
                continue
            registered = _field(item, "RegisteredAt")
            created_at = resolve(registered)[0] if isinstance(registered, datetime) else None
            jobs.append(
                RemoteJob(
                    job_id=str(complaint_id),
                    reference=_field(item, "ExternalNumber") or reference,
                    status=_field(item, "StatusCode"),
                    created_at=created_at,
                )
            )
        return jobs

    def push_update(self, job_id: str, update: JobUpdate) -> None:
        text = UPDATE_PREFIXES.get(update.kind, "Контакт-центр 1520: ") + update.text.strip()
        self._call("AddComment", write=True, ComplaintId=job_id, Text=_fit(text, COMMENT_MAX))

    # change feed ---------------------------------------------------------------------------------------
    def fetch_changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Status changes since the cursor, each exactly once.

        Window: [watermark - overlap, min(now, watermark + max_window)] in UTC; ``has_more`` while
        catching up. The window goes out as the narrowest Kyiv wall-time window holding all of it
        (``wall_span``): across the autumn switch that is 03:00–03:59:59, so nothing of the repeated
        hour is missed; across the spring switch nothing special is needed.

        Exactly once: every change returned is remembered by key until no later window can reach its
        wall time (``wall_floor`` of the next window's start, which stays at 03:00 through the
        repeated hour); a change whose key is remembered is not returned again.

        Wall time -> UTC (``resolve``): a change not returned before happened after the previous
        window's end minus the 2-minute late write, so it lies in [window start, now]; of the two
        instants of a repeated-hour time the one inside that range is taken. With pulls less than
        about 55 minutes apart only one ever is. After a longer gap both may be: then the one after
        the old watermark is taken if it is the only one there (the minutes before it hold only late
        writes), else the earlier; either way a warning says the instant was inferred. The wire
        format loses this information, so no client can do better. A time in the skipped spring hour
        (a correct clock never writes one) is resolved the same way.

        ``limit`` is not passed on: the service has no paging and returns the whole window. Windows
        are capped at ``max_window_hours`` instead, so a page stays bounded while catching up.
        Changes are ordered by time, ties by the status's place in a complaint's life (``position``).
        """
        now = self._now()
        if cursor is None:
            state = ChangeCursor(watermark=now - self.initial_lookback)
        else:
            try:
                state = ChangeCursor.decode(cursor)
            except ValueError as exc:
                raise FatalError(f"teplotsentral: cannot read the change cursor ({exc})") from None
        start = state.watermark - self.overlap
        end = max(start, min(now, state.watermark + self.max_window))
        low, high = wall_span(start, end)
        items, screened = self._call_list("GetStatusChanges", From=wire(floor_second(low)), To=wire(floor_second(high)))

        changes: list[StatusChange] = []
        rejects: list[RejectedItem] = [r for s in screened if (r := _screened_change(s, state)) is not None]
        previous = state.watermark
        for index, item in enumerate(items):
            parsed = self._read_change(index, item, state, (start, previous, now))
            if isinstance(parsed, RejectedItem):
                rejects.append(parsed)
            elif parsed is not None:
                changes.append(parsed)

        state.watermark = end
        state.prune(wall_floor(end - self.overlap))
        changes.sort(key=lambda c: (c.changed_at, c.position, c.change_id))
        return ChangePage(changes, next_cursor=state.encode(), has_more=end < now, rejects=rejects)

    def _read_change(
        self, index: int, item: Any, state: ChangeCursor, window: tuple[datetime, datetime, datetime]
    ) -> StatusChange | RejectedItem | None:
        """One item of GetStatusChanges; ``window`` is (start, previous watermark, now)."""
        complaint_id = _field(item, "ComplaintId")
        status = _field(item, "StatusCode")
        changed = _field(item, "ChangedAt")
        if not isinstance(changed, datetime):
            return RejectedItem(f"#{index}", "ChangedAt: missing or not a date-time", _payload(item))
        if not _holdable(changed):
            return RejectedItem(f"#{index}", "ChangedAt: out of range", _payload(item))
        wall = floor_second(to_wall(changed) if changed.tzinfo else changed)
        key = change_key(str(complaint_id or ""), str(status or ""), wall)
        if key in state.seen:
            return None  # returned by an earlier, overlapping window
        state.seen.add(key)  # a rejected change is reported once, too
        if not complaint_id:
            return RejectedItem(key, "ComplaintId: missing", _payload(item))
        if status not in self.statuses:
            return RejectedItem(key, f"StatusCode: unknown code {status!r}", _payload(item))
        if changed.tzinfo:
            changed_at, certain = changed.astimezone(UTC), True
        else:
            start, previous, now = window
            changed_at, certain = resolve(wall, start, now, prefer_after=previous)
        if not certain or not is_real(wall):
            log.warning(
                "complaint %s: ChangedAt %s is %s in Kyiv time; taken as %s",
                complaint_id,
                wall.isoformat(),
                "ambiguous" if is_real(wall) else "non-existent",
                changed_at.isoformat(),
            )
        comment = _field(item, "Comment")
        return StatusChange(
            change_id=key,
            job_id=str(complaint_id),
            status=str(status),
            changed_at=changed_at,
            position=STATUS_RANK.get(str(status), 0),
            reference=_field(item, "ExternalNumber"),
            comment=str(comment) if comment else None,
        )

    # planned works ---------------------------------------------------------------------------------------
    def fetch_planned_works(self, since: datetime, until: datetime) -> WorksPage:
        """Outages overlapping [since, until], cancelled ones included.

        The service refuses windows longer than 31 days, so a longer range is asked in slices of
        ``outage_window_days``; an outage seen in several slices is kept once, at its highest revision.
        Address lines the parser cannot read are kept verbatim in ``unparsed_lines``.
        """
        try:
            since, until = require_aware(since, "since"), require_aware(until, "until")
        except ValueError:
            raise PermanentError("teplotsentral GetPlannedOutages: since/until must be aware datetimes") from None
        works: dict[str, PlannedWork] = {}
        rejects: dict[str, RejectedItem] = {}
        index = 0
        start = since
        while True:
            end = min(until, start + self.outage_window)
            low, high = wall_span(start, end)
            items, screened = self._call_list(
                "GetPlannedOutages", From=wire(floor_second(low)), To=wire(floor_second(high))
            )
            for item in screened:
                key = (item.fields.get("OutageId") or "").strip() or _xml_key(item)
                rejects.setdefault(key, RejectedItem(key, item.error, item.xml))
            for item in items:
                result = self._read_outage(index, item)
                index += 1
                if isinstance(result, RejectedItem):
                    rejects.setdefault(result.key, result)
                elif result.notice_id not in works or result.revision > works[result.notice_id].revision:
                    works[result.notice_id] = result
            if end >= until:
                break
            start = end
        for reject in rejects.values():
            log.warning("outage %s rejected: %s", reject.key, reject.error)
        return WorksPage(works=list(works.values()), rejects=list(rejects.values()))

    def _read_outage(self, index: int, item: Any) -> PlannedWork | RejectedItem:
        payload = _payload(item)
        outage_id = _field(item, "OutageId")
        key = str(outage_id) if outage_id else f"#{index}"

        def reject(error: str) -> RejectedItem:
            return RejectedItem(key, error, payload)

        if not outage_id:
            return reject("OutageId: missing")
        revision = _field(item, "Revision")
        if not isinstance(revision, int) or revision < 1:
            return reject(f"Revision: {revision!r} is not a positive number")
        kind, service = _field(item, "Kind"), _field(item, "Service")
        if kind not in OUTAGE_KINDS:
            return reject(f"Kind: {kind!r} not one of {sorted(OUTAGE_KINDS)}")
        if service not in OUTAGE_SERVICES:
            return reject(f"Service: {service!r} not one of {sorted(OUTAGE_SERVICES)}")
        starts, ends = _field(item, "StartsAt"), _field(item, "EndsAt")
        if not isinstance(starts, datetime):
            return reject("StartsAt: missing or not a date-time")
        if ends is not None and not isinstance(ends, datetime):
            return reject("EndsAt: not a date-time")
        if not _holdable(starts):
            return reject("StartsAt: out of range")
        if ends is not None and not _holdable(ends):
            return reject("EndsAt: out of range")
        starts_at = resolve(starts)[0]  # an ambiguous wall time: the first (summer-time) instant
        ends_at = resolve(ends)[0] if ends is not None else None
        if ends_at is not None and ends_at < starts_at:
            return reject("EndsAt: before StartsAt")
        addresses: list[StreetHouses] = []
        unparsed: list[str] = []
        lines = _field(_field(item, "AddressLines"), "AddressLine") or []
        for line in lines:
            text = (line or "").strip()
            if not text:
                continue
            try:
                addresses.extend(parse_address_line(text))
            except ValueError as exc:
                log.warning("outage %s: address line kept verbatim, not understood (%s): %s", key, exc, text)
                unparsed.append(text)
        if not addresses and not unparsed:
            log.warning("outage %s names no address", key)
        return PlannedWork(
            notice_id=str(outage_id),
            revision=revision,
            kind=kind,
            service=service,
            starts_at=starts_at,
            ends_at=ends_at,
            addresses=tuple(addresses),
            unparsed_lines=tuple(unparsed),
            reason=_field(item, "Reason"),
            cancelled=bool(_field(item, "Cancelled")),
        )
