"""Deputy mayors, the on-time threshold and the recipients of the letters, from gateway/data.

Checked against executors.yaml on load: an executor answering to no deputy, or to two, or an address
for an executor that does not exist, is a clear error naming the file and the executor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gateway.classifier import DATA_DIR
from gateway.errors import ConfigError
from gateway.reference_data import EXECUTORS_FILE, load_executor_rows
from gateway.yamlfile import load_yaml

DEPUTIES_FILE = DATA_DIR / "deputy_mayors.yaml"
RECIPIENTS_FILE = DATA_DIR / "report_recipients.yaml"
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass(frozen=True)
class Deputy:
    id: str
    title_uk: str
    executors: tuple[str, ...]


@dataclass(frozen=True)
class Directory:
    threshold: float
    deputies: tuple[Deputy, ...]
    sender: str
    department: tuple[str, ...]
    executor_recipients: dict[str, tuple[str, ...]]
    deputy_recipients: dict[str, tuple[str, ...]]

    def deputy_of(self, executor_id: str) -> Deputy | None:
        return next((d for d in self.deputies if executor_id in d.executors), None)


def _addresses(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(a, str) and _ADDRESS.match(a) for a in raw):
        raise ConfigError(f"{where}: expected a list of e-mail addresses, got {raw!r}")
    return tuple(raw)


def load_directory(deputies_file: Path = DEPUTIES_FILE, recipients_file: Path = RECIPIENTS_FILE,
                   executors_file: Path = EXECUTORS_FILE) -> Directory:
    executors = {r["id"] for r in load_executor_rows(executors_file)}
    raw = load_yaml(deputies_file) or {}
    threshold = raw.get("threshold_on_time_share")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 < threshold <= 1:
        raise ConfigError(f"{deputies_file.name}: threshold_on_time_share must be a share in (0, 1], "
                          f"got {threshold!r}")
    deputies, owner = [], {}
    for position, entry in enumerate(raw.get("deputies") or []):
        where = f"{deputies_file.name}: deputies #{position + 1}"
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("title_uk"):
            raise ConfigError(f"{where}: needs id, title_uk and executors")
        for executor_id in entry.get("executors") or []:
            if executor_id not in executors:
                raise ConfigError(f"{where} ({entry['id']}): unknown executor {executor_id!r}")
            if executor_id in owner:
                raise ConfigError(f"{where} ({entry['id']}): executor {executor_id!r} already answers to "
                                  f"{owner[executor_id]!r}")
            owner[executor_id] = entry["id"]
        deputies.append(Deputy(entry["id"], entry["title_uk"], tuple(entry.get("executors") or ())))
    if orphans := sorted(executors - set(owner)):
        raise ConfigError(f"{deputies_file.name}: executor(s) answering to no deputy: {', '.join(orphans)}")
    rec = load_yaml(recipients_file) or {}
    by_executor = {}
    for executor_id, addresses in (rec.get("executors") or {}).items():
        if executor_id not in executors:
            raise ConfigError(f"{recipients_file.name}: executors.{executor_id}: unknown executor")
        by_executor[executor_id] = _addresses(addresses, f"{recipients_file.name}: executors.{executor_id}")
    deputy_ids = {d.id for d in deputies}
    by_deputy = {}
    for deputy_id, addresses in (rec.get("deputies") or {}).items():
        if deputy_id not in deputy_ids:
            raise ConfigError(f"{recipients_file.name}: deputies.{deputy_id}: unknown deputy")
        by_deputy[deputy_id] = _addresses(addresses, f"{recipients_file.name}: deputies.{deputy_id}")
    sender = rec.get("sender")
    if not isinstance(sender, str) or "@" not in sender:
        raise ConfigError(f"{recipients_file.name}: sender must be an e-mail address, got {sender!r}")
    return Directory(float(threshold), tuple(deputies), sender,
                     _addresses(rec.get("department") or [], f"{recipients_file.name}: department"),
                     by_executor, by_deputy)


@cache
def default_directory() -> Directory:
    return load_directory()
