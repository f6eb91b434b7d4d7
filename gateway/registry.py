"""The connector registry: every connectors/<name>/manifest.yaml, read with no network, database
or connector import, so DAG parsing stays fast and safe as utilities are added. A manifest is a
pydantic model: a wrong or misspelt key is refused naming the file and the key.
"""

from __future__ import annotations

import importlib
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from gateway.connector import Connector, Timeouts
from gateway.errors import ConfigError
from gateway.yamlfile import load_model

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
    """What a utility's connector declares about itself (the Singer/Airbyte "spec"). A pydantic
    dataclass: built from a checked ManifestFile, still validated when code builds or replaces one."""

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


Word = Annotated[str, Field(min_length=1, pattern=r"\S")]
ObjectPath = Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]


class TimeoutsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    connect: Annotated[float, Field(gt=0)] = 5.0
    read: Annotated[float, Field(gt=0)] = 30.0


class ManifestFile(BaseModel):
    """connectors/<name>/manifest.yaml as written (docs/onboarding.md lists the keys)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    title: Word
    executor: Word
    protocol: Word
    connector: ObjectPath
    conn_id: Word
    mapping: Annotated[str, Field(pattern=r"^[\w.-]+\.ya?ml$")]  # a file name in mappings/
    simulator: ObjectPath | None = None
    schedule: Word = "*/10 * * * *"
    owner: Word = "integration-team"
    tags: list[Word] = []
    streams: list[Literal[STREAMS]] | None = None  # type: ignore[valid-type]
    batch_size: Annotated[int, Field(gt=0)] = 50
    timeouts: TimeoutsSpec = TimeoutsSpec()
    planned_works_horizon_days: Annotated[int, Field(gt=0)] = 30


def load_manifest(path: Path, mappings_dir: Path = MAPPINGS_DIR) -> Manifest:
    spec = load_model(path, ManifestFile)
    if spec.name != path.parent.name:
        raise ConfigError(f"{path}: name {spec.name!r} differs from its folder {path.parent.name!r}")
    fields = spec.model_dump(exclude={"mapping", "timeouts", "tags", "streams"})
    return Manifest(
        **fields, mapping_file=mappings_dir / spec.mapping, path=path, tags=tuple(spec.tags),
        streams=tuple(spec.streams or STREAMS), timeouts=Timeouts(spec.timeouts.connect, spec.timeouts.read),
    )


def load_registry(connectors_dir: Path = CONNECTORS_DIR) -> dict[str, Manifest]:
    """All manifests, by name. A folder without a manifest is not a connector yet. Mapping files are
    looked up in the ``mappings/`` beside ``connectors_dir`` (another tree: a scaffolded utility)."""
    manifests = {}
    for path in sorted(connectors_dir.glob("*/manifest.yaml")):
        manifest = load_manifest(path, connectors_dir.parent / "mappings")
        manifests[manifest.name] = manifest
    return manifests
