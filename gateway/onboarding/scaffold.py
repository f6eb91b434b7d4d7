"""`gateway connector new`: a new utility's manifest, mapping, connector, simulator, contract stub and
tests, from the templates beside this module, in the layout of the existing connectors.

The mapping lists every item the current classifier gives the executor, commented out with a
suggested job type and priority, so a person confirms each one (`gateway connector check` counts
what is left). Nothing existing is ever overwritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from gateway.classifier import Classifier, default_classifier
from gateway.errors import ConfigError
from gateway.mapping import served_items
from gateway.reference_data import load_executor_rows
from gateway.registry import PROJECT_ROOT

TEMPLATES = Path(__file__).resolve().parent / "templates"
PROTOCOLS = ("rest",)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PRIORITY_BY_URGENCY = {"urgent_emergency": "emergency", "emergency": "urgent", "ordinary": "normal"}
# template -> where it goes, relative to the project root
LAYOUT = {
    "package_init.py.j2": "connectors/{name}/__init__.py",
    "manifest.yaml.j2": "connectors/{name}/manifest.yaml",
    "connector.py.j2": "connectors/{name}/connector.py",
    "wire.py.j2": "connectors/{name}/wire.py",
    "mapping.yaml.j2": "mappings/{name}.yaml",
    "simulator.py.j2": "simulators/{name}.py",
    "contract.openapi.yaml.j2": "contracts/{name}.openapi.yaml",
    "test_connector.py.j2": "tests/connectors/test_{name}.py",
}


@dataclass(frozen=True)
class Scaffold:
    name: str
    root: Path
    files: tuple[Path, ...]
    unmapped: int  # items of the executor left for a person to map
    executor: str

    def next_steps(self) -> list[str]:
        return [
            f"contracts/{self.name}.openapi.yaml: replace the stub with the utility's own document",
            f"connectors/{self.name}/wire.py and connector.py: paths, bodies, statuses and RULES as it says",
            f"simulators/{self.name}.py: its behaviour where the document leaves a choice open",
            f"mappings/{self.name}.yaml: uncomment and correct the {self.unmapped} job_types lines, map every status",
            f"gateway/data/executors.yaml: give executor {self.executor} `integration: {self.name}`, then "
            "`gateway load`",
            f"gateway connector check {self.name}   (until it exits 0)",
            f"set AIRFLOW_CONN_{self.name.upper()}_API, then gateway connector ping {self.name}",
            f"pytest tests/connectors/test_{self.name}.py tests/conformance -k {self.name}",
        ]


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def scaffold(name: str, protocol: str = "rest", *, root: Path = PROJECT_ROOT, executor: str | None = None,
             title: str | None = None, classifier: Classifier | None = None) -> Scaffold:
    """Write the new utility's files under ``root``; refuses a name in use or a file already there."""
    if not NAME_RE.match(name):
        raise ConfigError(f"connector name {name!r}: use lower-case letters, digits and _ (a Python package name)")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r}: templates exist for {', '.join(PROTOCOLS)} only")
    targets = {template: root / where.format(name=name) for template, where in LAYOUT.items()}
    if (root / "connectors" / name).exists():
        raise ConfigError(f"connector {name!r} exists already ({root / 'connectors' / name}); choose another name")
    if taken := [str(p) for p in targets.values() if p.exists()]:
        raise ConfigError(f"connector {name!r}: would overwrite {', '.join(taken)}")
    executor = executor or name
    executors = {row["id"]: row for row in load_executor_rows()}
    if executor not in executors:
        raise ConfigError(f"executor {executor!r} is not in gateway/data/executors.yaml (known: "
                          f"{', '.join(sorted(executors))}); pass --executor")
    classifier = classifier or default_classifier()
    items = [{"code": i.code, "key": i.key, "name_uk": i.name_uk, "job_type": i.key.upper().replace("-", "_"),
              "priority": PRIORITY_BY_URGENCY.get(i.urgency, "normal")} for i in served_items(classifier, executor)]
    job_types = sorted({i["job_type"] for i in items}) or ["GENERAL"]
    values = {"name": name, "cls": class_name(name), "title": title or executors[executor]["name_uk"],
              "executor": executor, "protocol": protocol, "classifier_version": classifier.current.version,
              "items": items, "job_types": job_types, "first_job_type": job_types[0]}
    env = Environment(loader=FileSystemLoader(TEMPLATES / protocol), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    for template, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(env.get_template(template).render(values), encoding="utf-8")
    return Scaffold(name, root, tuple(targets.values()), len(items), executor)
