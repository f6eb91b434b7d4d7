"""The classifier of residents' requests, versioned, loaded from the data files in gateway/data.

An item's ``key`` is its identity across versions; its ``code`` belongs to one version. Requests and
mappings attach to items, so the 2021 renumbering (3.18–3.27 became 3.19–3.28) moves no request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from gateway.errors import ConfigError
from gateway.yamlfile import load_yaml

DATA_DIR = Path(__file__).parent / "data"
BASE_FILE = DATA_DIR / "classifier_2020.yaml"
CHANGE_FILES = (DATA_DIR / "decision_2021_329.yaml",)


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


def _item(raw: dict, section: str, urgency: dict[str, UrgencyClass], where: str) -> ClassifierItem:
    try:
        urgency_class = urgency[raw["urgency"]]
        code = str(raw["code"])
        if not code.startswith(f"{section}."):
            raise ConfigError(f"{where}: item {code} is not in section {section}")
        return ClassifierItem(
            key=raw["key"],
            code=code,
            section=section,
            name_uk=raw["name_uk"],
            urgency=urgency_class.name,
            deadline_hours=urgency_class.deadline_hours,
            executor=raw["executor"],
            seasonal=raw.get("seasonal"),
        )
    except KeyError as exc:
        raise ConfigError(f"{where}: item {raw!r} lacks or misnames {exc}") from None


def _apply_change(base: ClassifierVersion, change: dict, urgency: dict[str, UrgencyClass], where: str):
    items = list(base.items)
    for rule in change.get("renumber", []):
        section, first, last, shift = str(rule["section"]), rule["first"], rule["last"], rule["shift"]
        renumbered = []
        for item in items:
            number = int(item.code.split(".")[1])
            if item.section == section and first <= number <= last:
                item = replace(item, code=f"{section}.{number + shift}")
            renumbered.append(item)
        items = renumbered
    for raw in change.get("insert", []):
        items.append(_item(raw, str(raw["section"]), urgency, where))
    sections = dict(base.sections)
    for raw_section in change.get("add_sections", []):
        code = str(raw_section["code"])
        sections[code] = raw_section["name_uk"]
        items.extend(_item(r, code, urgency, where) for r in raw_section["items"])
    return ClassifierVersion(
        version=str(change["version"]),
        title=change["title"],
        adopted_on=str(change["adopted_on"]),
        sections=sections,
        items=tuple(sorted(items, key=lambda i: tuple(int(p) for p in i.code.split(".")))),
    )


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


def load_classifier(base_file: Path = BASE_FILE, change_files: tuple[Path, ...] = CHANGE_FILES) -> Classifier:
    base = load_yaml(base_file)
    urgency = {
        name: UrgencyClass(name, raw["name_uk"], int(raw["deadline_hours"]))
        for name, raw in base["urgency_classes"].items()
    }
    items: list[ClassifierItem] = []
    sections: dict[str, str] = {}
    for raw_section in base["sections"]:
        code = str(raw_section["code"])
        sections[code] = raw_section["name_uk"]
        items.extend(_item(r, code, urgency, str(base_file)) for r in raw_section["items"])
    versions = [
        ClassifierVersion(str(base["version"]), base["title"], str(base["adopted_on"]), sections, tuple(items))
    ]
    _check(versions[0], str(base_file))
    for path in change_files:
        change = load_yaml(path)
        if str(change["based_on"]) != versions[-1].version:
            raise ConfigError(f"{path}: based on {change['based_on']}, but the latest is {versions[-1].version}")
        versions.append(_apply_change(versions[-1], change, urgency, str(path)))
        _check(versions[-1], str(path))
    return Classifier(urgency, tuple(versions))


@cache
def default_classifier() -> Classifier:
    return load_classifier()
