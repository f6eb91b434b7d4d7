"""Mapping files (mappings/<utility>.yaml): classifier code -> job type and priority, and the
utility's statuses -> contact-centre statuses. Validated on load; nothing falls back silently.

File shape::

    provider: vodokanal
    classifier_version: "2021-329"
    send_fields: [contact_phone, flat]   # resident data beyond street, house and description
    job_types:
      "3.1": {job_type: NO_WATER, priority: urgent}
    statuses:
      COMPLETED: done
    outage_services:          # optional: a request for this item inside an active announcement of
      "3.1": cold_water       # this service at its address joins the outage instead of becoming a job
    same_job_window_hours: 72 # optional: a repeat request (same item, same address) within this window
                              # joins the open job instead of creating a second one; 0 turns it off
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.classifier import Classifier, default_classifier
from gateway.errors import ConfigError
from gateway.statuses import RequestStatus
from gateway.yamlfile import load_yaml

PRIORITIES = frozenset({"emergency", "urgent", "normal"})
OPTIONAL_FIELDS = frozenset({"contact_phone", "flat", "coordinates"})
SERVICES = frozenset({"cold_water", "sewage", "heating", "hot_water", "waste_collection"})
DEFAULT_SAME_JOB_WINDOW_HOURS = 72


@dataclass(frozen=True)
class JobTypeRule:
    job_type: str
    priority: str


@dataclass(frozen=True)
class Mapping:
    provider: str
    path: Path
    classifier_version: str
    send_fields: frozenset[str]
    job_types: dict[str, JobTypeRule]  # by item key, so renumbering cannot detach a rule
    codes: dict[str, str]  # code as written in the file -> item key
    statuses: dict[str, RequestStatus]
    outage_services: dict[str, str]  # item key -> service
    same_job_window_hours: int

    def rule_for_item(self, item_key: str) -> JobTypeRule | None:
        return self.job_types.get(item_key)

    def status_for(self, utility_status: str) -> RequestStatus:
        try:
            return self.statuses[utility_status]
        except KeyError:
            raise ConfigError(f"{self.path}: utility status {utility_status!r} is not mapped") from None


def _table(raw: dict, key: str, path: Path) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {key!r} must be a table of entries, not {type(value).__name__}")
    return value


def _code(code: object, where: str) -> str:
    if not isinstance(code, str):
        raise ConfigError(f"{where}: quote the classifier code ({code!r} is read as a {type(code).__name__}; "
                          f"3.10 unquoted would be 3.1)")
    return code


def _word(value: object, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {what} must be a word, not {value!r}")
    return value


def load_mapping(
    path: Path,
    *,
    utility_statuses: Iterable[str],
    served_items: Iterable[str] = (),
    classifier: Classifier | None = None,
) -> Mapping:
    """Load and validate one mapping file.

    ``utility_statuses`` are all statuses the connector can report: each must be mapped.
    ``served_items`` are item keys whose default executor this utility is: each must be mapped,
    so a renumbered or newly inserted item cannot quietly map to nothing.
    """
    classifier = classifier or default_classifier()
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for key in ("provider", "classifier_version", "job_types", "statuses"):
        if key not in raw:
            raise ConfigError(f"{path}: missing {key!r}")
    provider = _word(raw["provider"], str(path), "provider")
    try:
        version = classifier.version(str(raw["classifier_version"]))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None

    fields = raw.get("send_fields") or []
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ConfigError(f"{path}: send_fields must be a list of field names, not {fields!r}")
    send_fields = frozenset(fields)
    if unknown := send_fields - OPTIONAL_FIELDS:
        raise ConfigError(f"{path}: send_fields {sorted(unknown)} unknown (allowed: {sorted(OPTIONAL_FIELDS)})")

    job_types: dict[str, JobTypeRule] = {}
    codes: dict[str, str] = {}
    for code, rule in _table(raw, "job_types", path).items():
        where = f"{path}: job_types[{code!r}]"
        code = _code(code, where)
        item = version.by_code(code)
        if item is None:
            raise ConfigError(f"{where}: no such code in classifier {version.version}")
        if not isinstance(rule, dict) or not rule.get("job_type"):
            raise ConfigError(f"{where}: needs job_type and priority")
        job_type = _word(rule["job_type"], where, "job_type")
        priority = rule.get("priority")
        if not isinstance(priority, str) or priority not in PRIORITIES:
            raise ConfigError(f"{where}: priority {priority!r} not one of {sorted(PRIORITIES)}")
        job_types[item.key] = JobTypeRule(job_type, priority)
        codes[code] = item.key

    statuses: dict[str, RequestStatus] = {}
    for utility_status, cc_status in _table(raw, "statuses", path).items():
        try:
            statuses[str(utility_status)] = RequestStatus(cc_status)
        except (ValueError, TypeError):
            raise ConfigError(
                f"{path}: statuses[{utility_status!r}]: {cc_status!r} is not a contact-centre status"
            ) from None
    expected = set(map(str, utility_statuses))
    if missing := expected - set(statuses):
        raise ConfigError(f"{path}: utility statuses not mapped: {sorted(missing)}")
    if extra := set(statuses) - expected:
        raise ConfigError(f"{path}: statuses the utility does not have: {sorted(extra)}")

    outage_services: dict[str, str] = {}
    for code, service in _table(raw, "outage_services", path).items():
        where = f"{path}: outage_services[{code!r}]"
        item_key = codes.get(_code(code, where))
        if item_key is None:
            raise ConfigError(f"{where}: the code has no job_types entry")
        if not isinstance(service, str) or service not in SERVICES:
            raise ConfigError(f"{where}: {service!r} not one of {sorted(SERVICES)}")
        outage_services[item_key] = service
    window = raw.get("same_job_window_hours", DEFAULT_SAME_JOB_WINDOW_HOURS)
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ConfigError(f"{path}: same_job_window_hours must be a whole number of hours >= 0, not {window!r}")

    for key in served_items:
        if key not in job_types:
            item = version.by_key(key)
            code = item.code if item else key
            raise ConfigError(f"{path}: classifier item {code} is served by {provider} but maps to nothing")
    return Mapping(provider, path, version.version, send_fields, job_types, codes, statuses,
                   outage_services, window)
