"""Carrying a mapping across a classifier change, by item and never by code, and what a change touches.

``upgrade_mapping`` rewrites a mapping file for another classifier version: each entry keeps its
item (named by its ``item`` field, else by what its code meant in the file's version) and gets that
item's code in the new version. The file is edited in place as text, so its comments, order and
layout stay what the utility's IT team wrote; the result is checked to map exactly the same items to
exactly the same rules before it replaces the file. New items the utility serves are reported, not
invented: a person decides their job type.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gateway.classifier import Classifier, ClassifierDiff, ClassifierItem, ClassifierVersion
from gateway.errors import ConfigError
from gateway.mapping import JobTypeRule, describe, load_mapping, read_mapping_file, served_items
from gateway.registry import Manifest


@dataclass
class Upgrade:
    path: Path
    old_version: str
    new_version: str
    text: str  # the file as it will be written
    moved: list[tuple[str, str, ClassifierItem]] = field(default_factory=list)  # old code, new code, item
    guarded: int = 0  # entries that now name their item
    unmapped: list[ClassifierItem] = field(default_factory=list)  # served in the new version, no entry

    @property
    def changed(self) -> bool:
        return bool(self.moved or self.guarded or self.old_version != self.new_version)


def _node(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    return next((v for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _entry_item(code: str, named: str | None, old: ClassifierVersion, path: Path) -> str:
    if named is not None:
        return named  # the entry says which item it is for: that wins over what its code means now
    item = old.by_code(code)
    if item is None:
        raise ConfigError(f"{path}: job_types[{code!r}]: no such code in classifier {old.version}")
    return item.key


def plan_upgrade(path: Path, classifier: Classifier, *, executor: str | None = None,
                 to_version: str | None = None) -> Upgrade:
    """The upgraded text of the mapping file at ``path`` (nothing is written)."""
    spec = read_mapping_file(path)
    old = classifier.version(spec.classifier_version)
    new = classifier.version(to_version) if to_version else classifier.current
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text)
    edits: list[tuple[int, int, str]] = []
    plan = Upgrade(path, old.version, new.version, text)

    version_node = _node(root, "classifier_version")
    if old.version != new.version and version_node is not None:
        edits.append((version_node.start_mark.index, version_node.end_mark.index, f'"{new.version}"'))
    new_codes: dict[str, str] = {}  # old code -> new code
    withdrawn = []
    job_types = _node(root, "job_types")
    for key_node, value_node in job_types.value if isinstance(job_types, yaml.MappingNode) else ():
        code = key_node.value
        item_key = _entry_item(code, spec.job_types[code].item, old, path)
        target = new.by_key(item_key)
        if target is None:
            withdrawn.append(f"{code} ({item_key})")
            continue
        new_codes[code] = target.code
        if target.code != code:
            edits.append((key_node.start_mark.index, key_node.end_mark.index, f'"{target.code}"'))
            plan.moved.append((code, target.code, target))
        if spec.job_types[code].item is None and isinstance(value_node, yaml.MappingNode):
            plan.guarded += 1
            if value_node.flow_style:
                at = value_node.start_mark.index + 1
                edits.append((at, at, f"item: {item_key}, "))
            else:
                first = value_node.value[0][0].start_mark
                edits.append((first.index, first.index, f"item: {item_key}\n{' ' * first.column}"))
    if withdrawn:
        raise ConfigError(f"{path}: items withdrawn in classifier {new.version}: {', '.join(withdrawn)}; delete "
                          f"their entries (and re-route their requests) first")
    outages = _node(root, "outage_services")
    for key_node, _value in outages.value if isinstance(outages, yaml.MappingNode) else ():
        target_code = new_codes.get(key_node.value)
        if target_code and target_code != key_node.value:
            edits.append((key_node.start_mark.index, key_node.end_mark.index, f'"{target_code}"'))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    plan.text = text
    mapped = {new_codes[c] for c in new_codes}
    if executor is not None:
        plan.unmapped = [i for i in served_items(classifier, executor) if i.code not in mapped]
    return plan


def _meaning(path: Path, classifier: Classifier) -> tuple[dict[str, JobTypeRule], dict[str, str]]:
    """Rules and outage services by item, as the file means them (its ``item`` names win over codes)."""
    spec = read_mapping_file(path)
    version = classifier.version(spec.classifier_version)
    keys = {code: _entry_item(code, entry.item, version, path) for code, entry in spec.job_types.items()}
    rules = {keys[code]: JobTypeRule(entry.job_type, entry.priority) for code, entry in spec.job_types.items()}
    return rules, {keys[code]: service for code, service in spec.outage_services.items() if code in keys}


def write_upgrade(plan: Upgrade, classifier: Classifier) -> None:
    """Replace the file, only if the new text maps the very same items to the very same rules."""
    statuses = list(read_mapping_file(plan.path).statuses)
    before = _meaning(plan.path, classifier)
    handle, scratch = tempfile.mkstemp(dir=plan.path.parent, prefix=f".{plan.path.name}.", suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(plan.text)
        after = load_mapping(Path(scratch), utility_statuses=statuses, classifier=classifier)
        if (after.job_types, after.outage_services) != before:
            raise ConfigError(f"{plan.path}: the upgraded mapping would map other items or rules; not written")
        os.replace(scratch, plan.path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)


@dataclass(frozen=True)
class Touched:
    """One mapping entry a classifier change affects (or a served item it leaves without one)."""

    provider: str
    path: Path
    what: str  # moved | withdrawn | changed | new item, unmapped
    item: ClassifierItem
    detail: str


def touched_entries(diff: ClassifierDiff, classifier: Classifier, manifests: list[Manifest]) -> list[Touched]:
    """Which entries of which mapping files a change from ``diff.old`` to ``diff.new`` touches."""
    moved = {after.key: (before, after) for before, after in diff.moved}
    changed = {after.key: (before, after) for before, after in diff.changed}
    removed = {item.key: item for item in diff.removed}
    result = []
    for manifest in manifests:
        spec = read_mapping_file(manifest.mapping_file)
        version = classifier.version(spec.classifier_version)
        keys = set()
        for code, entry in spec.job_types.items():
            key = _entry_item(code, entry.item, version, manifest.mapping_file)
            keys.add(key)
            where = f"job_types[{code!r}]"
            if key in moved:
                before, after = moved[key]
                result.append(Touched(manifest.name, manifest.mapping_file, "moved", after,
                                      f"{where}: {before.code} → {after.code}"))
            if key in removed:
                result.append(Touched(manifest.name, manifest.mapping_file, "withdrawn", removed[key],
                                      f"{where}: item withdrawn in {diff.new}"))
            if key in changed:
                before, after = changed[key]
                result.append(Touched(manifest.name, manifest.mapping_file, "changed", after,
                                      f"{where}: «{before.name_uk}» {before.urgency} {before.executor} → "
                                      f"«{after.name_uk}» {after.urgency} {after.executor}"))
        for item in diff.added:
            if item.executor == manifest.executor and item.key not in keys:
                result.append(Touched(manifest.name, manifest.mapping_file, "new item, unmapped", item,
                                      f"{describe(item)}: requests dead-letter until an entry is added"))
    return result
