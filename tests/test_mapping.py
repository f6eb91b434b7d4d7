"""Mapping files are validated on load: every error names the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.mapping import load_mapping

STATUSES = ["NEW", "DONE"]
GOOD = """\
provider: demo
classifier_version: "2021-329"
job_types:
  "3.1": {job_type: NO_WATER, priority: urgent}
statuses:
  NEW: sent_to_executor
  DONE: done
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_mapping_loads_and_attaches_rules_to_items_not_codes(tmp_path):
    mapping = load_mapping(_write(tmp_path, GOOD), utility_statuses=STATUSES)
    assert mapping.rule_for_item("no-cold-water-building").job_type == "NO_WATER"
    assert mapping.status_for("DONE") == "done"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"3.1": {job_type: NO_WATER, priority: urgent}', '"3.99": {job_type: X, priority: urgent}'),
         r"job_types\['3.99'\]: no such code in classifier 2021-329"),
        (("  DONE: done\n", ""), r"utility statuses not mapped: \['DONE'\]"),
        (("  DONE: done\n", "  DONE: done\n  LOST: done\n"), r"statuses the utility does not have: \['LOST'\]"),
        (("  DONE: done\n", "  DONE: finished\n"), r"statuses\['DONE'\]: 'finished' is not a contact-centre status"),
        (("priority: urgent", "priority: asap"), r"job_types\['3.1'\]: priority 'asap'"),
        (("  DONE: done\n", "  DONE: done\n  DONE: in_progress\n"), r"duplicate key 'DONE' at line 8"),
        (('"2021-329"', '"1999-1"'), r"unknown classifier version '1999-1'"),
        (("job_types:", "job_typez:"), r"missing 'job_types'"),
        (("statuses:", "statuses: [\n"), r"not valid YAML"),
    ],
)
def test_broken_mappings_are_refused_with_file_and_entry(tmp_path, change, message):
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError, match=message) as error:
        load_mapping(path, utility_statuses=STATUSES)
    if "classifier version" not in message:
        assert str(path) in str(error.value)


def test_an_item_the_utility_serves_must_map_to_something(tmp_path):
    with pytest.raises(ConfigError, match=r"classifier item 3.18 is served by demo but maps to nothing"):
        load_mapping(_write(tmp_path, GOOD), utility_statuses=STATUSES, served_items=["heat-carrier-leak"])


def test_a_mapping_written_for_the_2020_codes_stays_on_the_same_items_after_renumbering(tmp_path):
    old = GOOD.replace('"2021-329"', '"2020-339"').replace(
        '"3.1": {job_type: NO_WATER, priority: urgent}', '"3.18": {job_type: RESTORE, priority: normal}')
    mapping = load_mapping(_write(tmp_path, old), utility_statuses=STATUSES)
    # 3.18 in 2020 is the item that became 3.19 in 2021, not the new 3.18
    assert set(mapping.job_types) == {"heating-network-landscaping"}


def test_every_shipped_mapping_is_valid():
    from gateway.registry import load_registry
    from gateway.sync.context import load_manifest_mapping

    registry = load_registry()
    assert registry, "no connectors registered"
    for manifest in registry.values():
        assert load_manifest_mapping(manifest).provider == manifest.name
