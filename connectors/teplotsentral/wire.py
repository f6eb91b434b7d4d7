"""АТ «Криворізька теплоцентраль»'s SOAP side as the connector reads it: the WSDL it was handed, the
vocabulary, and zeep's reply items read into the gateway's dataclasses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.addresses import StreetHouses, parse_address_line
from gateway.connector import PlannedWork, RejectedItem
from gateway.toolkit.localtime import holdable_wall, resolve
from gateway.toolkit.soap import field, plain

WSDL_FILE = Path(__file__).resolve().parent / "wsdl" / "teplotsentral.wsdl"  # never fetched
NAMESPACE = "http://teplotsentral.kr.ua/ws/complaints/1.0"
BINDING_NAME = f"{{{NAMESPACE}}}ComplaintServiceSoapBinding"
# status -> its place in a complaint's life: ties between changes stamped in the same second
STATUS_RANK = {"10": 1, "20": 2, "30": 3, "40": 4, "50": 5, "90": 5, "91": 5}
REGISTERED, OUTAGE_KINDS, OUTAGE_SERVICES = "10", {"planned", "emergency"}, {"heating", "hot_water"}
TEXT_MAX = 2000  # Description and Comment in the XSD: free text is shortened rather than the request lost
# Lists screened item by item; not FindComplaints: the proof a create went through must be whole.
SCREENED_LISTS = {"GetStatusChangesResponse": "StatusChange", "GetPlannedOutagesResponse": "Outage"}


def fit(text: str, limit: int = TEXT_MAX) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def change_key(complaint_id: str, status: str, wall: datetime) -> str:
    """The contract gives changes no id: ComplaintId|StatusCode|ChangedAt (the wall time as written)."""
    return f"{complaint_id}|{status}|{wall.isoformat()}"


def key_wall(key: str) -> datetime:
    return datetime.fromisoformat(key.rsplit("|", 1)[1])


def outage(index: int, item: Any, log: Any) -> PlannedWork | RejectedItem:
    outage_id, revision = field(item, "OutageId"), field(item, "Revision")
    kind, service, starts, ends = (field(item, n) for n in ("Kind", "Service", "StartsAt", "EndsAt"))
    key = str(outage_id) if outage_id else f"#{index}"
    problem = (
        "OutageId: missing" if not outage_id else
        f"Revision: {revision!r} is not a positive number" if not isinstance(revision, int) or revision < 1 else
        f"Kind: {kind!r} not one of {sorted(OUTAGE_KINDS)}" if kind not in OUTAGE_KINDS else
        f"Service: {service!r} not one of {sorted(OUTAGE_SERVICES)}" if service not in OUTAGE_SERVICES else
        "StartsAt: missing or not a date-time" if not isinstance(starts, datetime) else
        "EndsAt: not a date-time" if ends is not None and not isinstance(ends, datetime) else
        "StartsAt: out of range" if not holdable_wall(starts) else
        "EndsAt: out of range" if ends is not None and not holdable_wall(ends) else None
    )
    if problem is None:
        starts_at = resolve(starts)[0]  # an ambiguous wall time: the first (summer-time) instant
        ends_at = resolve(ends)[0] if ends is not None else None
        problem = "EndsAt: before StartsAt" if ends_at is not None and ends_at < starts_at else None
    if problem is not None:
        return RejectedItem(key, problem, plain(item))
    addresses: list[StreetHouses] = []
    unparsed: list[str] = []
    for line in field(field(item, "AddressLines"), "AddressLine") or []:
        text = (line or "").strip()
        try:
            addresses.extend(parse_address_line(text) if text else ())
        except ValueError as exc:
            log.warning("outage %s: address line kept verbatim, not understood (%s): %s", key, exc, text)
            unparsed.append(text)
    return PlannedWork(notice_id=str(outage_id), revision=revision, kind=kind, service=service, starts_at=starts_at,
                       ends_at=ends_at, addresses=tuple(addresses), unparsed_lines=tuple(unparsed),
                       reason=field(item, "Reason"), cancelled=bool(field(item, "Cancelled")))
