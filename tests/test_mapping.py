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


def test_a_served_item_without_an_entry_is_listed_not_fatal(tmp_path, caplog):
    # one unmapped item must not stop the utility's whole sync: its requests dead-letter on their own
    mapping = load_mapping(_write(tmp_path, GOOD), utility_statuses=STATUSES,
                           served_items=["no-cold-water-building", "heat-carrier-leak"])
    assert mapping.unmapped == ("heat-carrier-leak",)
    assert mapping.rule_for_item("heat-carrier-leak") is None
    assert "3.18 heat-carrier-leak" in caplog.text and "mapped to nothing" in caplog.text


def test_an_entry_naming_another_item_than_its_code_is_refused(tmp_path):
    # the naive edit after a renumbering: the codes moved, the entry still means the old item
    text = GOOD.replace("{job_type: NO_WATER", "{item: no-water-network, job_type: NO_WATER")
    with pytest.raises(ConfigError, match=r"job_types\['3.1'\]: in classifier 2021-329 this code is 3.1 "
                                          r"no-cold-water-building .* but the entry is for item no-water-network"
                                          r".*gateway mapping upgrade demo"):
        load_mapping(_write(tmp_path, text), utility_statuses=STATUSES)
    fine = GOOD.replace("{job_type: NO_WATER", "{item: no-cold-water-building, job_type: NO_WATER")
    assert load_mapping(_write(tmp_path, fine), utility_statuses=STATUSES).codes == {"3.1": "no-cold-water-building"}


def test_unknown_keys_are_refused_naming_them(tmp_path):
    with pytest.raises(ConfigError, match=r"outage_service: not a known key"):
        load_mapping(_write(tmp_path, GOOD + "outage_service: {}\n"), utility_statuses=STATUSES)
    with pytest.raises(ConfigError, match=r"job_types\['3.1'\].prio: not a known key"):
        load_mapping(_write(tmp_path, GOOD.replace("priority: urgent", "priority: urgent, prio: 1")),
                     utility_statuses=STATUSES)


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
        mapping = load_manifest_mapping(manifest)
        assert mapping.provider == manifest.name
        assert mapping.unmapped == (), f"{manifest.name} serves items its mapping lacks: {mapping.unmapped}"


def test_every_shipped_mapping_entry_names_its_item():
    """So a renumbering edited by hand is caught on load (see the test above), not at the utility."""
    from gateway.mapping import read_mapping_file
    from gateway.registry import load_registry

    for manifest in load_registry().values():
        spec = read_mapping_file(manifest.mapping_file)
        assert all(entry.item for entry in spec.job_types.values()), manifest.mapping_file


def test_a_broken_manifest_is_refused_naming_the_file_and_every_key_at_fault(tmp_path):
    from gateway.registry import CONNECTORS_DIR, load_manifest

    folder = tmp_path / "vodokanal"
    folder.mkdir()
    path = folder / "manifest.yaml"
    text = (CONNECTORS_DIR / "vodokanal" / "manifest.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("batch_size:", "batch_sise:") + "streams: [jobs, notices]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_manifest(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert "streams[1]: Input should be 'planned_works', 'jobs', 'status_changes' or 'updates', not 'notices'" \
        in message
    assert "batch_sise: not a known key (a typo?)" in message
    path.write_text(text.replace("conn_id: vodokanal_api", "conn_id: [vodokanal_api]"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"manifest.yaml: conn_id: Input should be a valid string"):
        load_manifest(path)
    assert load_manifest(CONNECTORS_DIR / "vodokanal" / "manifest.yaml").timeouts.read == 15
