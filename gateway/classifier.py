"""The classifier of residents' requests, versioned, loaded from the data files in gateway/data.

An item's ``key`` is its identity across versions; its ``code`` belongs to one version. Requests and
mappings attach to items, so a renumbering (in 2021, 3.18–3.27 became 3.19–3.28) moves no request.

A change of the classifier is data: one YAML file in ``gateway/data/classifier_changes/`` (see
docs/classifier-changes.md), found by looking in the folder and chained by its ``based_on``; nothing lists the
files in code, and one generic migration step (gateway.migrations.classifier_step) applies any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.errors import ConfigError
from gateway.yamlfile import load_model

DATA_DIR = Path(__file__).parent / "data"
BASE_FILE = DATA_DIR / "classifier_2020.yaml"
CHANGES_DIR = DATA_DIR / "classifier_changes"
# Where default_classifier() looks for change files; a test may add a folder of its own.
CHANGE_DIRS: tuple[Path, ...] = (CHANGES_DIR,)


@dataclass(frozen=True)
class UrgencyClass:
    name: str
    name_uk: str
    deadline_hours: int


@dataclass(frozen=True)
class ClassifierItem:
    key: str
    code: str
    section: str
    name_uk: str
    urgency: str
    deadline_hours: int
    executor: str
    seasonal: str | None = None


@dataclass(frozen=True)
class ClassifierVersion:
    version: str
    title: str
    adopted_on: str
    sections: dict[str, str]  # code -> Ukrainian name
    items: tuple[ClassifierItem, ...]
    based_on: str | None = None
    source: Path | None = None  # the data file that defines this version

    def by_code(self, code: str) -> ClassifierItem | None:
        return self._codes().get(code)

    def by_key(self, key: str) -> ClassifierItem | None:
        return next((i for i in self.items if i.key == key), None)

    def _codes(self) -> dict[str, ClassifierItem]:
        return {i.code: i for i in self.items}

    def codes(self) -> set[str]:
        return set(self._codes())


@dataclass(frozen=True)
class Classifier:
    urgency_classes: dict[str, UrgencyClass]
    versions: tuple[ClassifierVersion, ...]  # oldest first

    @property
    def current(self) -> ClassifierVersion:
        return self.versions[-1]

    def version(self, name: str) -> ClassifierVersion:
        for v in self.versions:
            if v.version == name:
                return v
        known = ", ".join(v.version for v in self.versions)
        raise ConfigError(f"unknown classifier version {name!r} (known: {known})")

    def translate(self, code: str, from_version: str, to_version: str) -> str | None:
        """The code the same item carries in another version (None if it has none there)."""
        item = self.version(from_version).by_code(code)
        if item is None:
            raise ConfigError(f"classifier {from_version}: no item with code {code!r}")
        target = self.version(to_version).by_key(item.key)
        return target.code if target else None

    def diff(self, old: str, new: str) -> ClassifierDiff:
        """What moved between two versions, item by item (an item is the same item by its key)."""
        before, after = self.version(old), self.version(new)
        moved, renamed = [], []
        for item in after.items:
            was = before.by_key(item.key)
            if was is None:
                continue
            if was.code != item.code:
                moved.append((was, item))
            if (was.name_uk, was.urgency, was.executor) != (item.name_uk, item.urgency, item.executor):
                renamed.append((was, item))
        return ClassifierDiff(
            old=before.version, new=after.version,
            added=tuple(i for i in after.items if before.by_key(i.key) is None),
            removed=tuple(i for i in before.items if after.by_key(i.key) is None),
            moved=tuple(moved), changed=tuple(renamed),
        )


@dataclass(frozen=True)
class ClassifierDiff:
    old: str
    new: str
    added: tuple[ClassifierItem, ...]  # new items (with their code in ``new``)
    removed: tuple[ClassifierItem, ...]  # items ``new`` no longer has (with their code in ``old``)
    moved: tuple[tuple[ClassifierItem, ClassifierItem], ...]  # (as in old, as in new): same item, new code
    changed: tuple[tuple[ClassifierItem, ClassifierItem], ...]  # same item, other name, urgency or executor

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.moved or self.changed)


# --- the data files, as pydantic models: a wrong file is refused naming the file and the entry --------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Code = Annotated[str, Field(pattern=r"^[1-9][0-9]*\.[1-9][0-9]*$")]
SectionCode = Annotated[str, Field(pattern=r"^[1-9][0-9]*$")]


class UrgencySpec(_Spec):
    name_uk: str
    deadline_hours: Annotated[int, Field(gt=0)]


class ItemSpec(_Spec):
    key: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    code: Code
    name_uk: Annotated[str, Field(min_length=1)]
    urgency: str
    executor: str
    seasonal: str | None = None
    section: SectionCode | None = None  # optional: the code says it

    @field_validator("section")
    @classmethod
    def _section_of_code(cls, section: str | None, info) -> str | None:
        code = info.data.get("code")
        if section is not None and code is not None and not code.startswith(f"{section}."):
            raise ValueError(f"item {code} is not in section {section}")
        return section


class SectionSpec(_Spec):
    code: SectionCode
    name_uk: str
    items: list[ItemSpec]


class RenumberRule(_Spec):
    """Items ``section``.``first`` to ``section``.``last`` (of the version it is based on) move by ``shift``."""

    section: SectionCode
    first: Annotated[int, Field(ge=1)]
    last: Annotated[int, Field(ge=1)]
    shift: int


class BaseSpec(_Spec):
    version: str
    title: str
    adopted_on: date
    urgency_classes: dict[str, UrgencySpec]
    sections: list[SectionSpec]


class ChangeSpec(_Spec):
    """One change file: renumberings apply first (to the codes of ``based_on``), then the inserts."""

    version: str
    title: str
    adopted_on: date
    based_on: str
    renumber: list[RenumberRule] = []
    insert: list[ItemSpec] = []
    add_sections: list[SectionSpec] = []


def _item(spec: ItemSpec, urgency: dict[str, UrgencyClass], where: str) -> ClassifierItem:
    if spec.urgency not in urgency:
        raise ConfigError(f"{where}: item {spec.code}: urgency {spec.urgency!r} not one of {sorted(urgency)}")
    urgency_class = urgency[spec.urgency]
    return ClassifierItem(
        key=spec.key, code=spec.code, section=spec.code.split(".")[0], name_uk=spec.name_uk,
        urgency=urgency_class.name, deadline_hours=urgency_class.deadline_hours, executor=spec.executor,
        seasonal=spec.seasonal,
    )


def _code_order(item: ClassifierItem) -> tuple[int, ...]:
    return tuple(int(p) for p in item.code.split("."))


def _apply_change(base: ClassifierVersion, change: ChangeSpec, urgency: dict[str, UrgencyClass],
                  path: Path) -> ClassifierVersion:
    items = list(base.items)
    for rule in change.renumber:
        if rule.first > rule.last:
            raise ConfigError(f"{path}: renumber {rule.section}.{rule.first}–{rule.last}: first is after last")
        renumbered = []
        for item in items:
            number = int(item.code.split(".")[1])
            if item.section == rule.section and rule.first <= number <= rule.last:
                item = replace(item, code=f"{rule.section}.{number + rule.shift}")
            renumbered.append(item)
        items = renumbered
    sections = dict(base.sections)
    for spec in change.insert:
        if spec.code.split(".")[0] not in sections:
            raise ConfigError(f"{path}: insert {spec.code}: no section {spec.code.split('.')[0]} (add it with "
                              f"add_sections)")
        items.append(_item(spec, urgency, str(path)))
    for section in change.add_sections:
        if section.code in sections:
            raise ConfigError(f"{path}: add_sections: section {section.code} exists already")
        sections[section.code] = section.name_uk
        items.extend(_section_items(section, urgency, path))
    return ClassifierVersion(
        version=change.version, title=change.title, adopted_on=change.adopted_on.isoformat(), sections=sections,
        items=tuple(sorted(items, key=_code_order)), based_on=change.based_on, source=path,
    )


def _section_items(section: SectionSpec, urgency: dict[str, UrgencyClass], path: Path) -> list[ClassifierItem]:
    for spec in section.items:
        if spec.code.split(".")[0] != section.code:
            raise ConfigError(f"{path}: item {spec.code} is not in section {section.code}")
    return [_item(spec, urgency, str(path)) for spec in section.items]


def _check(version: ClassifierVersion, where: str) -> None:
    seen_codes: set[str] = set()
    seen_keys: set[str] = set()
    for item in version.items:
        if item.code in seen_codes:
            raise ConfigError(f"{where}: classifier {version.version} has code {item.code} twice")
        if item.key in seen_keys:
            raise ConfigError(f"{where}: classifier {version.version} has item key {item.key} twice")
        seen_codes.add(item.code)
        seen_keys.add(item.key)


def change_files(change_dirs: tuple[Path, ...]) -> list[Path]:
    """Every change file in the folders: a file there is a change, nothing else lists them."""
    return sorted(path for folder in change_dirs for path in folder.glob("*.yaml"))


def _chain(base_version: str, changes: dict[Path, ChangeSpec]) -> list[tuple[Path, ChangeSpec]]:
    """The changes in the order they build on each other, starting from the base version."""
    by_base: dict[str, tuple[Path, ChangeSpec]] = {}
    for path, change in changes.items():
        if change.based_on in by_base:
            other = by_base[change.based_on][0]
            raise ConfigError(f"{path}: based on {change.based_on}, as {other} is: a change builds on the latest "
                              f"version, one after another")
        by_base[change.based_on] = (path, change)
    chain, latest = [], base_version
    while latest in by_base:
        path, change = by_base.pop(latest)
        chain.append((path, change))
        latest = change.version
    for path, change in by_base.values():
        raise ConfigError(f"{path}: based on {change.based_on}, but the latest version is {latest}")
    return chain


def load_classifier(base_file: Path = BASE_FILE, change_dirs: tuple[Path, ...] | None = None) -> Classifier:
    """The base classifier and every change found in ``change_dirs`` (default: ``CHANGE_DIRS``)."""
    base = load_model(base_file, BaseSpec)
    urgency = {name: UrgencyClass(name, u.name_uk, u.deadline_hours) for name, u in base.urgency_classes.items()}
    items: list[ClassifierItem] = []
    sections: dict[str, str] = {}
    for section in base.sections:
        sections[section.code] = section.name_uk
        items.extend(_section_items(section, urgency, base_file))
    versions = [ClassifierVersion(base.version, base.title, base.adopted_on.isoformat(), sections,
                                  tuple(sorted(items, key=_code_order)), source=base_file)]
    _check(versions[0], str(base_file))
    changes = {path: load_model(path, ChangeSpec) for path in change_files(CHANGE_DIRS if change_dirs is None
                                                                         else change_dirs)}
    for path, change in _chain(base.version, changes):
        if any(v.version == change.version for v in versions):
            raise ConfigError(f"{path}: version {change.version} exists already")
        versions.append(_apply_change(versions[-1], change, urgency, path))
        _check(versions[-1], str(path))
    return Classifier(urgency, tuple(versions))


@cache
def default_classifier() -> Classifier:
    return load_classifier()
