"""АТ «Криворізька теплоцентраль»: the legacy SOAP 1.1 complaint service, through zeep (toolkit.soap).

The WSDL is the file the utility handed over (``wsdl/``), never fetched. The service has no idempotency:
once a write may have reached it, a failure is ambiguous. Connection extras (optional): overlap_minutes
(5; the service writes up to 2 minutes late), initial_lookback_hours (72), max_window_hours (24),
outage_window_days (30; it refuses more than 31), password_digest (false).

The change feed is a time window in Kyiv wall time (``WindowCursor``), asked as the narrowest wall-time
window holding it (``wall_span``: across the autumn switch 03:00–03:59:59). Changes already returned are
dropped by key; a wall time of the repeated hour becomes the instant inside the window (``resolve``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors.teplotsentral import wire
from gateway import connector as api
from gateway.connections import ConnectionConfig
from gateway.errors import AmbiguousError, FatalError, PermanentError
from gateway.toolkit import localtime as kyiv
from gateway.toolkit.failures import Rule
from gateway.toolkit.paging import WindowCursor, time_slices
from gateway.toolkit.redact import normalize_phone, outbound_text, scrub_contacts
from gateway.toolkit.soap import ScreenedItem, SoapClient, field, plain

log = logging.getLogger("gateway.connectors.teplotsentral")

RULES = (  # the service's own fault codes; what any SOAP failure means is the toolkit's SOAP_RULES
    Rule("fatal", "credentials refused", kind={"soap:Client"}, code={"AUTH"}),
    Rule("retriable", "temporary failure", kind={"soap:Server"}, code={"INTERNAL", "DB_LOCKED"}),
)
UPDATE_PREFIXES = {"rework": "заявку повернуто на доопрацювання. ", "withdrawn": "заявник відкликав заявку. ",
                   "details": "додаткова інформація від заявника. "}
URGENT_PREFIX = "ТЕРМІНОВО (SOS). "


class TeplotsentralConnector(api.Connector):
    statuses: ClassVar[frozenset[str]] = frozenset(wire.STATUS_RANK)
    idempotent_create: ClassVar[bool] = False

    def __init__(self, connection: ConnectionConfig, *, timeouts: api.Timeouts | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(connection, timeouts=timeouts)
        extra = connection.extra or {}
        self._clock = clock or (lambda: datetime.now(UTC))
        self.overlap = timedelta(minutes=float(extra.get("overlap_minutes", 5)))
        self.initial_lookback = timedelta(hours=float(extra.get("initial_lookback_hours", 72)))
        self.max_window = timedelta(hours=float(extra.get("max_window_hours", 24)))
        self.outage_window = timedelta(days=float(extra.get("outage_window_days", 30)))
        if self.overlap < timedelta(minutes=3):
            raise FatalError("teplotsentral: overlap_minutes must exceed the service's 2-minute late writes")
        self._soap = SoapClient("teplotsentral", connection, self.timeouts, wsdl=wire.WSDL_FILE, rules=RULES,
                                binding=wire.BINDING_NAME, screened_lists=wire.SCREENED_LISTS, logger=log)
        self._call = self._soap.call

    def close(self) -> None:
        self._soap.close()

    # jobs -------------------------------------------------------------------------------------------
    def create_job(self, job: api.JobDraft) -> api.CreateResult:
        if job.reported_at.utcoffset() is None:
            raise PermanentError("teplotsentral RegisterComplaint: reported_at must be an aware datetime")
        phone = normalize_phone(job.contact_phone)
        if job.contact_phone and phone is None:
            log.warning("request %s: contact phone is not a Ukrainian number; sent without it", job.reference)
        description = outbound_text(job.description, phone_sent=phone is not None)
        address = {"Street": job.street.strip(), "House": job.house.strip(), "Flat": (job.flat or "").strip() or None}
        complaint_id = self._call(
            "RegisterComplaint", write=True, ExternalNumber=job.reference, ComplaintType=job.job_type, Address=address,
            Description=wire.fit((URGENT_PREFIX if job.priority == "emergency" else "") + description.strip()),
            Phone=phone, RegisteredAt=kyiv.wire(kyiv.to_wall(job.reported_at)),
        )
        if not complaint_id:  # something came back, but not the number: the complaint may exist all the same
            raise AmbiguousError("teplotsentral RegisterComplaint: reply without a ComplaintId")
        log.info("request %s registered as complaint %s", job.reference, complaint_id)
        return api.CreateResult(job_id=str(complaint_id), status=wire.REGISTERED)

    def find_jobs(self, reference: str) -> Sequence[api.RemoteJob]:
        jobs = []
        for item in self._call("FindComplaints", write=False, ExternalNumber=reference) or []:
            complaint_id, registered = field(item, "ComplaintId"), field(item, "RegisteredAt")
            if not complaint_id:
                log.warning("FindComplaints(%s): a complaint without ComplaintId ignored", reference)
                continue
            jobs.append(api.RemoteJob(str(complaint_id), field(item, "ExternalNumber") or reference,
                                      status=field(item, "StatusCode"), created_at=kyiv.resolve(registered)[0]
                                      if isinstance(registered, datetime) else None))
        return jobs

    def push_update(self, job_id: str, update: api.JobUpdate) -> None:
        text = f"Контакт-центр 1520: {UPDATE_PREFIXES.get(update.kind, '')}{update.text.strip()}"
        self._call("AddComment", write=True, ComplaintId=job_id, Text=wire.fit(scrub_contacts(text)))

    # change feed ---------------------------------------------------------------------------------------
    def fetch_changes(self, cursor: str | None, limit: int) -> api.ChangePage:
        """Status changes since the cursor, each exactly once (see the module docstring). ``limit`` is not
        passed on: the service has no paging; windows are capped at ``max_window_hours`` instead."""
        now = kyiv.require_aware(self._clock(), "clock()")
        state = WindowCursor.decode(cursor, "teplotsentral") if cursor else WindowCursor(now - self.initial_lookback)
        start, end = state.window(now, self.overlap, self.max_window)
        items = self._call("GetStatusChanges", write=False, **kyiv.wire_span(start, end)) or []
        rejects = [r for s in self._soap.screened() if (r := self._screened(s, state)) is not None]
        changes: list[api.StatusChange] = []
        for index, item in enumerate(items):
            found = self._change(index, item, state, (start, state.watermark, now))
            (rejects if isinstance(found, api.RejectedItem) else changes).extend([found] if found else [])
        floor = kyiv.wall_floor(end - self.overlap)
        state.watermark = end
        state.prune(lambda key: wire.key_wall(key) >= floor)
        changes.sort(key=lambda c: (c.changed_at, c.position, c.change_id))
        return api.ChangePage(changes, next_cursor=state.encode(), has_more=end < now, rejects=rejects)

    @staticmethod
    def _screened(item: ScreenedItem, state: WindowCursor) -> api.RejectedItem | None:
        """A change screened out of the reply; reported once, like any rejected change."""
        complaint_id, status = item.text("ComplaintId"), item.text("StatusCode")
        try:
            wall = datetime.fromisoformat(item.text("ChangedAt"))
        except ValueError:
            wall = None
        if wall is None or wall.tzinfo is not None or not complaint_id:
            return api.RejectedItem(item.xml_key(), item.error, item.xml)
        key = wire.change_key(complaint_id, status, kyiv.floor_second(wall))
        return api.RejectedItem(key, item.error, item.xml) if state.first(key) else None

    def _change(self, index: int, item: Any, state: WindowCursor, window: tuple[datetime, datetime, datetime],
                ) -> api.StatusChange | api.RejectedItem | None:
        """One item of GetStatusChanges; ``window`` is (start, previous watermark, now)."""
        complaint_id, status, changed = (field(item, n) for n in ("ComplaintId", "StatusCode", "ChangedAt"))
        if not isinstance(changed, datetime) or not kyiv.holdable_wall(changed):
            why = "out of range" if isinstance(changed, datetime) else "missing or not a date-time"
            return api.RejectedItem(f"#{index}", f"ChangedAt: {why}", plain(item))
        wall = kyiv.floor_second(kyiv.to_wall(changed) if changed.tzinfo else changed)
        key = wire.change_key(str(complaint_id or ""), str(status or ""), wall)
        if not state.first(key):  # returned by an earlier, overlapping window (a rejected one is reported once, too)
            return None
        if not complaint_id or status not in self.statuses:
            error = "ComplaintId: missing" if not complaint_id else f"StatusCode: unknown code {status!r}"
            return api.RejectedItem(key, error, plain(item))
        start, previous, now = window
        changed_at, certain = ((changed.astimezone(UTC), True) if changed.tzinfo else
                               kyiv.resolve(wall, start, now, prefer_after=previous))
        if not certain or not kyiv.is_real(wall):
            log.warning("complaint %s: ChangedAt %s is %s in Kyiv time; taken as %s", complaint_id, wall.isoformat(),
                        "ambiguous" if kyiv.is_real(wall) else "non-existent", changed_at.isoformat())
        comment = field(item, "Comment")
        return api.StatusChange(change_id=key, job_id=str(complaint_id), status=str(status), changed_at=changed_at,
                                position=wire.STATUS_RANK.get(str(status), 0),
                                reference=field(item, "ExternalNumber"), comment=str(comment) if comment else None)

    # planned works ---------------------------------------------------------------------------------------
    def fetch_planned_works(self, since: datetime, until: datetime) -> api.WorksPage:
        """Outages overlapping [since, until], cancelled ones included, asked in slices the service takes;
        an outage seen in several slices is kept once, at its highest revision."""
        if since.utcoffset() is None or until.utcoffset() is None:
            raise PermanentError("teplotsentral GetPlannedOutages: since/until must be aware datetimes")
        works: dict[str, api.PlannedWork] = {}
        rejects: dict[str, api.RejectedItem] = {}
        index = 0
        for start, end in time_slices(since.astimezone(UTC), until.astimezone(UTC), self.outage_window):
            items = self._call("GetPlannedOutages", write=False, **kyiv.wire_span(start, end)) or []
            for screened in self._soap.screened():
                key = screened.text("OutageId") or screened.xml_key()
                rejects.setdefault(key, api.RejectedItem(key, screened.error, screened.xml))
            for item in items:
                result, index = wire.outage(index, item, log), index + 1
                if isinstance(result, api.RejectedItem):
                    rejects.setdefault(result.key, result)
                elif result.notice_id not in works or result.revision > works[result.notice_id].revision:
                    works[result.notice_id] = result
        for reject in rejects.values():
            log.warning("outage %s rejected: %s", reject.key, reject.error)
        return api.WorksPage(works=list(works.values()), rejects=list(rejects.values()))
