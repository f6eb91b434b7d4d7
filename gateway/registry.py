"""The connector registry: every connectors/<name>/manifest.yaml, read with no network, database
or connector import, so DAG parsing stays fast and safe as utilities are added.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from gateway.connector import Connector, Timeouts
from gateway.errors import ConfigError
from gateway.yamlfile import load_yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONNECTORS_DIR = PROJECT_ROOT / "connectors"
MAPPINGS_DIR = PROJECT_ROOT / "mappings"
# In the order a sync run takes them: announcements first, so a request about an outage the utility
# has just announced joins it instead of becoming a job.
STREAMS = ("planned_works", "jobs", "status_changes", "updates")
# The DAG task that serves each stream.
STEP_BY_STREAM = {
    "jobs": "push_jobs",
    "status_changes": "pull_status_changes",
    "updates": "push_updates",
    "planned_works": "pull_planned_works",
}


def _load_object(path: str, where: str) -> object:
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot load {path!r} ({exc})") from None


@dataclass(frozen=True)
class Manifest:
    """What a utility's connector declares about itself (the Singer/Airbyte "spec")."""

    name: str
    title: str
    executor: str
    protocol: str
    connector: str  # "package.module:Class", imported only when a task runs
    conn_id: str  # Airflow Connection id
    mapping_file: Path
    path: Path
    simulator: str | None = None
    schedule: str = "*/10 * * * *"
    owner: str = "integration-team"
    tags: tuple[str, ...] = ()
    streams: tuple[str, ...] = STREAMS
    batch_size: int = 50
    timeouts: Timeouts = field(default_factory=Timeouts)
    planned_works_horizon_days: int = 30

    @property
    def pool(self) -> str:
        return f"utility_{self.name}"

    @property
    def steps(self) -> list[str]:
        return [STEP_BY_STREAM[s] for s in STREAMS if s in self.streams]

    @cached_property
    def connector_class(self) -> type[Connector]:
        cls = _load_object(self.connector, str(self.path))
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise ConfigError(f"{self.path}: {self.connector} is not a Connector")
        return cls

    def simulator_class(self) -> type:
        if not self.simulator:
            raise ConfigError(f"{self.path}: declares no simulator")
        return _load_object(self.simulator, str(self.path))  # type: ignore[return-value]


def load_manifest(path: Path, mappings_dir: Path = MAPPINGS_DIR) -> Manifest:
    raw = load_yaml(path)
    where = str(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    missing = [k for k in ("name", "title", "executor", "protocol", "connector", "conn_id", "mapping") if k not in raw]
    if missing:
        raise ConfigError(f"{where}: missing {missing}")
    if raw["name"] != path.parent.name:
        raise ConfigError(f"{where}: name {raw['name']!r} differs from its folder {path.parent.name!r}")
    streams = tuple(raw.get("streams") or STREAMS)
    if unknown := set(streams) - set(STREAMS):
        raise ConfigError(f"{where}: unknown streams {sorted(unknown)} (known: {list(STREAMS)})")
    timeouts = raw.get("timeouts") or {}
    return Manifest(
        name=raw["name"],
        title=raw["title"],
        executor=raw["executor"],
        protocol=raw["protocol"],
        connector=raw["connector"],
        conn_id=raw["conn_id"],
        mapping_file=mappings_dir / raw["mapping"],
        path=path,
        simulator=raw.get("simulator"),
        schedule=raw.get("schedule", "*/10 * * * *"),
        owner=raw.get("owner", "integration-team"),
        tags=tuple(raw.get("tags") or ()),
        streams=streams,
        batch_size=int(raw.get("batch_size", 50)),
        timeouts=Timeouts(float(timeouts.get("connect", 5)), float(timeouts.get("read", 30))),
        planned_works_horizon_days=int(raw.get("planned_works_horizon_days", 30)),
    )


def load_registry(connectors_dir: Path = CONNECTORS_DIR) -> dict[str, Manifest]:
    """All manifests, by name. A folder without a manifest is not a connector yet."""
    manifests = {}
    for path in sorted(connectors_dir.glob("*/manifest.yaml")):
        manifest = load_manifest(path)
        manifests[manifest.name] = manifest
    return manifests
