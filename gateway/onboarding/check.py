"""`gateway connector check`: one utility's files against the current classifier, without a network.

Each finding names the file and the entry, so a person knows where to look: the manifest (pydantic
ManifestFile), the executor (gateway/data/executors.yaml), the connector and simulator classes, the
mapping (pydantic MappingFile, then codes, items and statuses), the contract document, and the job
types the mapping sends against the document's job-type vocabulary (its JobType schema). Served items left unmapped are
listed apart: their requests dead-letter until the mapping has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gateway.classifier import ClassifierItem, default_classifier
from gateway.errors import ConfigError
from gateway.mapping import load_mapping, read_mapping_file, unmapped_items
from gateway.reference_data import EXECUTORS_FILE, load_executor_rows
from gateway.registry import PROJECT_ROOT, Manifest, load_manifest

# The schema of a contract document that lists the job types the utility accepts, by the names in use.
VOCABULARY_SCHEMAS = ("JobType", "RequestType", "WorkType")


@dataclass(frozen=True)
class Finding:
    file: str
    entry: str
    problem: str


@dataclass
class CheckReport:
    name: str
    findings: list[Finding] = field(default_factory=list)
    unmapped: list[ClassifierItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.unmapped

    def add(self, file: Path | str, entry: str, problem: str) -> None:
        self.findings.append(Finding(str(file), entry, problem))


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _strip(message: str, path: Path) -> str:
    """A ConfigError's text without the file name it starts with (the table has a column for that)."""
    text = str(message)
    return text.removeprefix(f"{path}:").strip() or text


def contract_documents(name: str, root: Path) -> list[Path]:
    """contracts/<name>.openapi.yaml, or the WSDL of contracts/<name>/ for a SOAP utility."""
    return sorted([*root.glob(f"contracts/{name}.openapi.y*ml"), *root.glob(f"contracts/{name}/*.wsdl")])


def check_connector(name: str, root: Path = PROJECT_ROOT) -> CheckReport:
    report = CheckReport(name)
    path = root / "connectors" / name / "manifest.yaml"
    where = _relative(path, root)
    if not path.exists():
        report.add(where, "", "no manifest: is the name right? (`gateway connector new` writes one)")
        return report
    try:
        manifest = load_manifest(path, root / "mappings")
    except ConfigError as exc:
        report.add(where, _entry_of(str(exc)), _strip(str(exc), path))
        return report
    _check_executor(manifest, report, root, where)
    statuses = _connector_statuses(manifest, report, where)
    if manifest.simulator:
        try:
            manifest.simulator_class()
        except Exception as exc:  # any failure to import it is a finding, not a crash
            report.add(where, "simulator", f"{manifest.simulator}: cannot load ({_strip(str(exc), path)})")
    _check_mapping(manifest, statuses, report, root)
    _check_contract(manifest, report, root)
    return report


def executors_file(root: Path) -> Path:
    """The tree's own executors list when it has one (a scaffolding tree), else the package's."""
    own = root / "gateway" / "data" / "executors.yaml"
    return own if own.exists() else EXECUTORS_FILE


def _check_executor(manifest: Manifest, report: CheckReport, root: Path, where: str) -> None:
    path = executors_file(root)
    executors = {row["id"]: row for row in load_executor_rows(path)}
    row = executors.get(manifest.executor)
    if row is None:
        report.add(where, "executor", f"{manifest.executor!r} is not in {_relative(path, root)}")
    elif row["integration"] != manifest.name:
        report.add(_relative(path, root), manifest.executor,
                   f"integration is {row['integration']!r}, not {manifest.name!r}: the engine pushes only the "
                   f"requests of executors whose integration names the connector (then run `gateway load`)")


def _entry_of(message: str) -> str:
    """The key a pydantic message names (``...: name: ...``), else nothing."""
    parts = [p.strip() for p in message.split(":")]
    return parts[1] if len(parts) > 2 and parts[1].isidentifier() else ""


def _connector_statuses(manifest: Manifest, report: CheckReport, where: str) -> frozenset[str] | None:
    try:
        statuses = manifest.connector_class.statuses
    except Exception as exc:  # any failure to import it is a finding, not a crash
        report.add(where, "connector", f"{manifest.connector}: cannot load ({_strip(str(exc), manifest.path)})")
        return None
    if not statuses:
        report.add(where, "connector", f"{manifest.connector} declares no statuses")
    return statuses


def _check_mapping(manifest: Manifest, statuses: frozenset[str] | None, report: CheckReport, root: Path) -> None:
    path = manifest.mapping_file
    where = _relative(path, root)
    if not path.exists():
        report.add(where, "", f"no mapping file (the manifest's mapping: {path.name})")
        return
    classifier = default_classifier()
    try:
        spec = read_mapping_file(path)
        if spec.provider != manifest.name:
            report.add(where, "provider", f"{spec.provider!r}, but the connector is {manifest.name!r}")
        if statuses is not None:
            load_mapping(path, utility_statuses=statuses, classifier=classifier)
        report.unmapped = unmapped_items(path, manifest.executor, classifier)
    except ConfigError as exc:
        text = _strip(str(exc), path)
        entry, _, problem = text.partition(": ") if text.startswith(("job_types[", "outage_services[")) else ("", "",
                                                                                                          text)
        report.add(where, entry, problem)
        return
    others = [i for code in spec.job_types if (i := classifier.version(spec.classifier_version).by_code(code))
              and i.executor != manifest.executor]
    for item in others:
        report.add(where, f"job_types[{item.code!r}]", f"{item.key} is served by {item.executor}, not "
                   f"{manifest.executor}: its requests never reach this utility")


def _check_contract(manifest: Manifest, report: CheckReport, root: Path) -> None:
    documents = contract_documents(manifest.name, root)
    if not documents:
        report.add(f"contracts/{manifest.name}.openapi.yaml", "", "no contract document (OpenAPI 3.1 or WSDL)")
        return
    for document in documents:
        where = _relative(document, root)
        if document.suffix == ".wsdl":
            _check_wsdl(document, where, report)
            continue
        try:
            spec = yaml.safe_load(document.read_text(encoding="utf-8"))
            from openapi_spec_validator import validate

            validate(spec)
        except Exception as exc:  # any way the document is not OpenAPI
            report.add(where, "", f"not a valid OpenAPI document: {str(exc).splitlines()[0][:200]}")
            continue
        schemas = spec.get("components", {}).get("schemas", {})
        vocabulary = next((schemas[n].get("enum") for n in VOCABULARY_SCHEMAS if isinstance(schemas.get(n), dict)),
                          None)
        if vocabulary and manifest.mapping_file.exists():
            _check_job_types(manifest.mapping_file, set(vocabulary), where, report, root)


def _check_wsdl(document: Path, where: str, report: CheckReport) -> None:
    from lxml import etree

    try:
        etree.parse(str(document))
    except (OSError, etree.XMLSyntaxError) as exc:
        report.add(where, "", f"not well-formed XML: {exc}")


def _check_job_types(mapping_file: Path, vocabulary: set[str], document: str, report: CheckReport,
                     root: Path) -> None:
    try:
        spec = read_mapping_file(mapping_file)
    except ConfigError:
        return  # reported with the mapping
    for code, entry in spec.job_types.items():
        if entry.job_type not in vocabulary:
            report.add(_relative(mapping_file, root), f"job_types[{code!r}]",
                       f"job type {entry.job_type!r} is not in {document}'s job type vocabulary")
