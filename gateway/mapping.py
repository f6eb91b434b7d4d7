"""Mapping files (mappings/<utility>.yaml): classifier items -> job type and priority, and the
utility's statuses -> contact-centre statuses. Validated on load (a pydantic model for the shape,
then the cross-checks against the classifier and the connector); nothing falls back silently.

File shape::

    provider: vodokanal
    classifier_version: "2021-329"       # the version whose codes the file uses
    send_fields: [contact_phone, flat]   # resident data beyond street, house and description
    job_types:
      "3.1": {item: no-cold-water-building, job_type: NO_WATER, priority: urgent}
    statuses:
      COMPLETED: done
    outage_services:          # optional: a request for this item inside an active announcement of
      "3.1": cold_water       # this service at its address joins the outage instead of becoming a job
    same_job_window_hours: 72 # optional: a repeat request (same item, same address) within this window
                              # joins the open job instead of creating a second one; 0 turns it off

A code means the item it has in ``classifier_version``; ``item`` (optional, written by
``gateway mapping upgrade``) names that item, so an edit that changes the version but not the codes
is refused instead of quietly moving a rule to the neighbouring item. A served item with no entry
does not stop the utility's sync: it is listed in ``Mapping.unmapped`` and its requests are
dead-lettered one by one (gateway/sync/push.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from gateway.classifier import Classifier, ClassifierItem, default_classifier
from gateway.errors import ConfigError
from gateway.statuses import RequestStatus
from gateway.yamlfile import load_model

PRIORITIES = frozenset({"emergency", "urgent", "normal"})
OPTIONAL_FIELDS = frozenset({"contact_phone", "flat", "coordinates"})
SERVICES = frozenset({"cold_water", "sewage", "heating", "hot_water", "waste_collection"})
DEFAULT_SAME_JOB_WINDOW_HOURS = 72
TABLES = frozenset({"job_types", "statuses", "outage_services"})

log = logging.getLogger("gateway.mapping")


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
    unmapped: tuple[str, ...] = ()  # keys of items the utility serves that have no entry

    def rule_for_item(self, item_key: str) -> JobTypeRule | None:
        return self.job_types.get(item_key)

    def status_for(self, utility_status: str) -> RequestStatus:
        try:
            return self.statuses[utility_status]
        except KeyError:
            raise ConfigError(f"{self.path}: utility status {utility_status!r} is not mapped") from None


# --- the file's shape -------------------------------------------------------------------------------


def _word(what: str):
    def check(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{what} must be a word, not {value!r}")
        return value
    return BeforeValidator(check)


def _one_of(what: str, allowed: frozenset[str]):
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{what}{value!r} not one of {sorted(allowed)}")
        return value
    return BeforeValidator(check)


def _cc_status(value: object) -> RequestStatus:
    try:
        return RequestStatus(value)
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not a contact-centre status") from None


def _table(name: str, *, codes: bool):
    def check(value: object) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be a table of entries, not {type(value).__name__}")
        if not codes:
            return {str(key): entry for key, entry in value.items()}
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"quote the classifier code ({key!r} is read as a {type(key).__name__}; "
                                 f"3.10 unquoted would be 3.1)")
        return value
    return BeforeValidator(check)


def _window(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"same_job_window_hours must be a whole number of hours >= 0, not {value!r}")
    return value


def _send_fields(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise ValueError(f"send_fields must be a list of field names, not {value!r}")
    if unknown := set(value) - OPTIONAL_FIELDS:
        raise ValueError(f"send_fields {sorted(unknown)} unknown (allowed: {sorted(OPTIONAL_FIELDS)})")
    return value


class JobTypeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item: Annotated[str | None, _word("item")] = None
    job_type: Annotated[str, _word("job_type")]
    priority: Annotated[str, _one_of("priority ", PRIORITIES)]

    @model_validator(mode="before")
    @classmethod
    def _needs_both(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value.get("job_type"):
            raise ValueError("needs job_type and priority")
        return value


class MappingFile(BaseModel):
    """A mapping file as written; what its codes mean is checked against the classifier afterwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Annotated[str, _word("provider")]
    classifier_version: Annotated[str, BeforeValidator(lambda v: v if isinstance(v, str) else str(v))]
    send_fields: Annotated[list[str], BeforeValidator(_send_fields)] = []
    job_types: Annotated[dict[str, JobTypeEntry], _table("job_types", codes=True)]
    statuses: Annotated[dict[str, Annotated[RequestStatus, BeforeValidator(_cc_status)]],
                        _table("statuses", codes=False)]
    outage_services: Annotated[dict[str, Annotated[str, _one_of("", SERVICES)]],
                               _table("outage_services", codes=True)] = {}
    same_job_window_hours: Annotated[int, BeforeValidator(_window)] = DEFAULT_SAME_JOB_WINDOW_HOURS


def read_mapping_file(path: Path) -> MappingFile:
    """The file's shape only (no classifier or connector check): for tools that rewrite it."""
    return load_model(path, MappingFile, tables=TABLES)


# --- what the codes mean ------------------------------------------------------------------------------


def describe(item: ClassifierItem) -> str:
    return f"{item.code} {item.key} «{item.name_uk}»"


def load_mapping(
    path: Path,
    *,
    utility_statuses: Iterable[str],
    served_items: Iterable[str] = (),
    classifier: Classifier | None = None,
) -> Mapping:
    """Load and validate one mapping file.

    ``utility_statuses`` are all statuses the connector can report: each must be mapped.
    ``served_items`` are item keys whose default executor this utility is: one with no entry is
    listed in ``unmapped`` (and logged), so the rest of the utility's sync goes on while that item's
    requests wait in dead letters for the mapping to be completed.
    """
    classifier = classifier or default_classifier()
    spec = read_mapping_file(path)
    try:
        version = classifier.version(spec.classifier_version)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None

    job_types: dict[str, JobTypeRule] = {}
    codes: dict[str, str] = {}
    for code, entry in spec.job_types.items():
        where = f"{path}: job_types[{code!r}]"
        item = version.by_code(code)
        if item is None:
            raise ConfigError(f"{where}: no such code in classifier {version.version}")
        if entry.item is not None and entry.item != item.key:
            meant = classifier.current.by_key(entry.item) or version.by_key(entry.item)
            raise ConfigError(
                f"{where}: in classifier {version.version} this code is {describe(item)}, but the entry is for "
                f"item {entry.item}" + (f" «{meant.name_uk}»" if meant else "")
                + f": the codes were renumbered; carry the mapping across with `gateway mapping upgrade "
                f"{spec.provider}` instead of editing codes by hand")
        if item.key in job_types:
            raise ConfigError(f"{where}: item {item.key} has an entry already")
        job_types[item.key] = JobTypeRule(entry.job_type, entry.priority)
        codes[code] = item.key

    statuses = dict(spec.statuses)
    expected = set(map(str, utility_statuses))
    if missing := expected - set(statuses):
        raise ConfigError(f"{path}: utility statuses not mapped: {sorted(missing)}")
    if extra := set(statuses) - expected:
        raise ConfigError(f"{path}: statuses the utility does not have: {sorted(extra)}")

    outage_services: dict[str, str] = {}
    for code, service in spec.outage_services.items():
        item_key = codes.get(code)
        if item_key is None:
            raise ConfigError(f"{path}: outage_services[{code!r}]: the code has no job_types entry")
        outage_services[item_key] = service

    unmapped = tuple(key for key in served_items if key not in job_types)
    if unmapped:
        current = classifier.current
        names = ", ".join(describe(i) if (i := current.by_key(k)) else k for k in unmapped)
        log.warning("%s: served by %s but mapped to nothing: %s; their requests go to dead letters until the "
                    "mapping has them", path, spec.provider, names)
    return Mapping(spec.provider, path, version.version, frozenset(spec.send_fields), job_types, codes, statuses,
                   outage_services, spec.same_job_window_hours, unmapped)


def served_items(classifier: Classifier, executor: str) -> list[ClassifierItem]:
    """The current classifier's items whose default executor is ``executor``."""
    return [i for i in classifier.current.items if i.executor == executor]


def unmapped_items(mapping_file: Path, executor: str, classifier: Classifier | None = None) -> list[ClassifierItem]:
    """Items of the current classifier the utility serves that its mapping file has no entry for (for
    `gateway status` and `gateway connector check`; reads the file only, imports no connector)."""
    classifier = classifier or default_classifier()
    spec = read_mapping_file(mapping_file)
    version = classifier.version(spec.classifier_version)
    mapped = {entry.item or (item.key if (item := version.by_code(code)) else code)
              for code, entry in spec.job_types.items()}
    return [i for i in served_items(classifier, executor) if i.key not in mapped]
