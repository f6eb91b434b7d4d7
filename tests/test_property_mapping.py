"""Property tests of the mapping loader (gateway.mapping.load_mapping).

Whatever a mapping file holds - junk, wrong types, duplicate keys, unknown codes, statuses or
priorities, or a valid mapping - loading it either returns a Mapping that says exactly what the file
says or raises ConfigError whose message names the file (and the entry at fault). Never another
exception: a DAG that meets a broken mapping must say which file to fix, not crash with a TypeError.

The general property once failed (bugs in gateway/mapping.py and gateway/yamlfile.py, listed in
``KNOWN_BUGS`` and pinned one by one in ``test_known_loader_bug``, now fixed); the properties over well-typed
documents and mutated shipped mappings hold and guard what works.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from gateway.classifier import default_classifier
from gateway.errors import ConfigError
from gateway.mapping import OPTIONAL_FIELDS, PRIORITIES, SERVICES, Mapping, load_mapping
from gateway.registry import load_registry
from gateway.statuses import RequestStatus

CLASSIFIER = default_classifier()
VERSIONS = [v.version for v in CLASSIFIER.versions]
UTILITY_STATUSES = ("NEW", "DONE", "10")  # "10": a numeric status, as teplotsentral's codes are
CC_STATUSES = sorted(s.value for s in RequestStatus)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD = """\
provider: demo
classifier_version: "2021-329"
send_fields: [flat]
job_types:
  "3.1": {job_type: NO_WATER, priority: urgent}
  "3.9": {job_type: SEWER, priority: normal}
statuses:
  NEW: sent_to_executor
  DONE: done
  "10": in_progress
outage_services:
  "3.1": cold_water
same_job_window_hours: 48
"""


def load(content: str | bytes, **options) -> tuple[Path, Mapping | ConfigError]:
    """Write ``content`` as a mapping file and load it; returns (path, Mapping or the ConfigError)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "utility.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        options.setdefault("utility_statuses", UTILITY_STATUSES)
        try:
            return path, load_mapping(path, **options)
        except ConfigError as exc:
            return path, exc


def assert_mapping_or_named_config_error(content: str | bytes, **options) -> Mapping | ConfigError:
    """The invariant: a Mapping, or a ConfigError naming the file. Anything else fails as AssertionError."""
    try:
        path, result = load(content, **options)
    except Exception as exc:  # the bug this test exists to find
        raise AssertionError(f"load_mapping raised {type(exc).__name__}: {exc}") from exc
    if isinstance(result, ConfigError):
        assert str(path) in str(result), f"ConfigError does not name the file: {result}"
    else:
        assert isinstance(result, Mapping)
    return result


# strategies -----------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), st.dates(),
    st.sampled_from(["3.1", "3.10", "urgent", "done", "cold_water", "flat", "2021-329", "NEW"]),
)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(), st.sampled_from(["3.1", "NEW"])), inner,
                        max_size=3),
    ),
    max_leaves=8,
)
TOP_KEYS = ["provider", "classifier_version", "send_fields", "job_types", "statuses", "outage_services",
            "same_job_window_hours"]


def dump(document: object) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@st.composite
def wrongly_typed_documents(draw) -> str:
    """The valid mapping with some top-level entries, or entries inside them, replaced by any value."""
    document = yaml.safe_load(GOOD)
    for key in draw(st.lists(st.sampled_from(TOP_KEYS), max_size=3, unique=True)):
        if draw(st.booleans()):
            document[key] = draw(yaml_values)
        else:
            document.pop(key)
    for section in ("job_types", "statuses", "outage_services"):
        if isinstance(document.get(section), dict) and document[section] and draw(st.booleans()):
            entry = draw(st.sampled_from(sorted(document[section], key=str)))
            document[section][entry] = draw(yaml_values)
    if isinstance(document.get("job_types"), dict) and isinstance(document["job_types"].get("3.1"), dict) \
            and draw(st.booleans()):
        rule = dict(document["job_types"]["3.1"])
        rule[draw(st.sampled_from(["job_type", "priority"]))] = draw(yaml_values)
        document["job_types"]["3.1"] = rule
    return dump(document)


# Junk for the properties that hold: no control characters, no "-" (impossible dates like 2021-13-45)
# and no "?" (complex keys): those are KNOWN_BUGS, found by the general property.
PRINTABLE = st.text(st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="-?"), max_size=30)


@st.composite
def text_mutations(draw, base: str, junk: st.SearchStrategy[str] = PRINTABLE) -> str:
    """``base`` with lines deleted, duplicated or cut short, or ``junk`` inserted."""
    lines = base.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "cut", "junk"]))
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        elif action == "cut":
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        else:
            lines.insert(at, draw(junk) + "\n")
    return "".join(lines)


# the general property (KNOWN_BUGS pins what once broke it) ---------------------------------------------

KNOWN_BUGS = {
    # gateway/mapping.py
    "unknown classifier version": GOOD.replace('"2021-329"', '"1999-1"'),
    "send_fields a number": GOOD.replace("send_fields: [flat]", "send_fields: 5"),
    "send_fields holding a list": GOOD.replace("send_fields: [flat]", "send_fields: [[flat]]"),
    "job_types a list": GOOD.replace('job_types:\n  "3.1": {job_type: NO_WATER, priority: urgent}\n'
                                     '  "3.9": {job_type: SEWER, priority: normal}', "job_types: [3.1, 3.9]"),
    "statuses a list": GOOD.replace('statuses:\n  NEW: sent_to_executor\n  DONE: done\n  "10": in_progress',
                                    "statuses: [NEW, DONE]"),
    "outage_services a list": GOOD.replace('outage_services:\n  "3.1": cold_water', "outage_services: [3.1]"),
    "priority a list": GOOD.replace("priority: urgent", "priority: [urgent]"),
    "outage service a list": GOOD.replace('"3.1": cold_water', '"3.1": [cold_water]'),
    # gateway/yamlfile.py
    "a complex (unhashable) key": GOOD + "? [a, b]\n: 1\n",
    "an impossible date scalar": GOOD.replace("provider: demo", "provider: 2021-13-45"),
    "not UTF-8": GOOD.replace("provider: demo", "provider: d\xe9mo").encode("latin-1"),
    "a control character": GOOD.replace("provider: demo", "provider: de\x08mo"),
}
# Accepted although wrong: the loader returns a Mapping that does not say what the file meant.
SILENTLY_ACCEPTED = {
    # 3.10 unquoted is the float 3.1: its rule silently replaces the rule of item 3.1
    "unquoted code 3.10 read as 3.1": GOOD.replace('"3.9": {job_type: SEWER, priority: normal}',
                                                   "3.10: {job_type: YARD_DRAIN, priority: normal}"),
    # a bool is an int in Python: `true` becomes a one-hour window
    "same_job_window_hours: true": GOOD.replace("same_job_window_hours: 48", "same_job_window_hours: true"),
    # a list as job_type is sent to the utility as the text "['NO_WATER']"
    "job_type a list": GOOD.replace("job_type: NO_WATER,", "job_type: [NO_WATER],"),
}


@settings(PROPERTY, report_multiple_bugs=False)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=80), wrongly_typed_documents(),
                 yaml_values.map(dump), text_mutations(GOOD, st.text(max_size=30))))
@example(KNOWN_BUGS["send_fields a number"])
@example(KNOWN_BUGS["an impossible date scalar"])
def test_any_file_gives_a_mapping_or_a_config_error_naming_the_file(content):
    assert_mapping_or_named_config_error(content)


@pytest.mark.parametrize("name", sorted(KNOWN_BUGS))
def test_known_loader_bug(name):
    assert_mapping_or_named_config_error(KNOWN_BUGS[name])


@pytest.mark.parametrize("name", sorted(SILENTLY_ACCEPTED))
def test_wrongly_typed_entry_is_refused(name):
    result = assert_mapping_or_named_config_error(SILENTLY_ACCEPTED[name])
    assert isinstance(result, ConfigError), f"accepted: {result}"


# properties that hold ---------------------------------------------------------------------------------

FAULTS = ["unknown code", "empty job_type", "priority", "contact-centre status", "status left out",
          "status the utility lacks", "send field", "outage code without a rule", "outage service", "window",
          "served item unmapped"]


@st.composite
def well_typed_documents(draw) -> tuple[dict, list[str], str | None]:
    """A valid mapping document, or one with exactly one wrong value (an unknown code, priority, status,
    service or field: every entry keeps its shape), and the served item keys to check it with.
    Returns the document, the served keys and the text the error must contain (None: valid)."""
    version = CLASSIFIER.version(draw(st.sampled_from(VERSIONS)))
    all_codes = sorted(version.codes(), key=lambda c: tuple(int(p) for p in c.split(".")))
    word = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=10)
    codes = draw(st.lists(st.sampled_from(all_codes), min_size=1, max_size=5, unique=True))
    job_types = {c: {"job_type": draw(st.from_regex(r"[A-Z][A-Z_]{2,15}", fullmatch=True)),
                     "priority": draw(st.sampled_from(sorted(PRIORITIES)))} for c in codes}
    statuses = {s: draw(st.sampled_from(CC_STATUSES)) for s in UTILITY_STATUSES}
    send = draw(st.lists(st.sampled_from(sorted(OPTIONAL_FIELDS)), max_size=3, unique=True))
    outages = {c: draw(st.sampled_from(sorted(SERVICES)))
               for c in draw(st.lists(st.sampled_from(codes), max_size=2, unique=True))}
    window = draw(st.one_of(st.none(), st.integers(0, 1000)))
    served = [version.by_code(c).key for c in draw(st.lists(st.sampled_from(codes), max_size=2, unique=True))]

    fault = draw(st.one_of(st.none(), st.sampled_from(FAULTS), st.sampled_from(FAULTS)))
    expected = None
    any_code = draw(st.sampled_from(codes))
    if fault == "unknown code":
        code = draw(st.one_of(st.sampled_from(["3.99", "0.1", "32.99", "3", "03.1"]),
                              st.from_regex(r"[1-9][0-9]?\.[1-9][0-9]?", fullmatch=True)).filter(
                                  lambda c: version.by_code(c) is None))
        job_types[code] = {"job_type": "X", "priority": "normal"}
        expected = f"job_types[{code!r}]: no such code in classifier {version.version}"
    elif fault == "empty job_type":
        job_types[any_code]["job_type"] = ""
        expected = f"job_types[{any_code!r}]: needs job_type"
    elif fault == "priority":
        job_types[any_code]["priority"] = draw(word.filter(lambda w: w not in PRIORITIES))
        expected = f"job_types[{any_code!r}]: priority {job_types[any_code]['priority']!r}"
    elif fault == "contact-centre status":
        status = draw(st.sampled_from(UTILITY_STATUSES))
        statuses[status] = draw(word.filter(lambda w: w not in CC_STATUSES))
        expected = f"statuses[{status!r}]: {statuses[status]!r} is not a contact-centre status"
    elif fault == "status left out":
        del statuses[draw(st.sampled_from(UTILITY_STATUSES))]
        expected = "utility statuses not mapped"
    elif fault == "status the utility lacks":
        statuses[draw(word.filter(lambda w: w not in UTILITY_STATUSES))] = "done"
        expected = "statuses the utility does not have"
    elif fault == "send field":
        send.append(draw(word.filter(lambda w: w not in OPTIONAL_FIELDS)))
        expected = "send_fields"
    elif fault == "outage code without a rule":
        code = draw(st.sampled_from(all_codes).filter(lambda c: c not in job_types))
        outages[code] = "cold_water"
        expected = f"outage_services[{code!r}]: the code has no job_types entry"
    elif fault == "outage service":
        outages[any_code] = draw(word.filter(lambda w: w not in SERVICES))
        expected = f"outage_services[{any_code!r}]: {outages[any_code]!r} not one of"
    elif fault == "window":
        window = draw(st.one_of(st.integers(-1000, -1), st.floats(0, 10), st.text(max_size=3)))
        expected = "same_job_window_hours must be a whole number"
    elif fault == "served item unmapped":  # not a refusal: listed, so the rest of the sync goes on
        mapped = {version.by_code(c).key for c in job_types}
        served.append(draw(st.sampled_from([i for i in version.items if i.key not in mapped])).key)

    document = {"provider": draw(word), "classifier_version": version.version, "send_fields": send,
                "job_types": job_types, "statuses": statuses}
    if outages:
        document["outage_services"] = outages
    if window is not None:
        document["same_job_window_hours"] = window
    return document, served, expected


@PROPERTY
@given(well_typed_documents())
def test_well_typed_documents_load_exactly_or_are_refused_naming_the_entry(case):
    document, served, expected = case
    result = assert_mapping_or_named_config_error(dump(document), served_items=served)
    event("refused" if expected else "valid")
    if expected:
        assert isinstance(result, ConfigError), f"accepted although it should say {expected!r}"
        assert expected in str(result)
        return
    assert isinstance(result, Mapping), f"refused a valid mapping: {result}"
    version = CLASSIFIER.version(document["classifier_version"])
    assert result.provider == document["provider"] and result.classifier_version == version.version
    assert result.send_fields == frozenset(document["send_fields"])
    assert result.codes == {c: version.by_code(c).key for c in document["job_types"]}
    assert {key: (rule.job_type, rule.priority) for key, rule in result.job_types.items()} == {
        version.by_code(c).key: (rule["job_type"], rule["priority"]) for c, rule in document["job_types"].items()
    }
    assert {k: v.value for k, v in result.statuses.items()} == document["statuses"]
    assert result.outage_services == {
        version.by_code(c).key: service for c, service in document.get("outage_services", {}).items()
    }
    assert result.same_job_window_hours == document.get("same_job_window_hours", 72)
    assert result.unmapped == tuple(key for key in served if key not in result.job_types)


LEAF_LINES = [i for i, line in enumerate(GOOD.splitlines()) if ":" in line and line.split(":", 1)[1].strip()]


@PROPERTY
@given(st.sampled_from(LEAF_LINES), st.sampled_from(["x", "urgent", "done", "{job_type: Y, priority: normal}", "[]"]))
def test_a_duplicated_key_anywhere_is_refused_naming_it_and_both_lines(at, value):
    lines = GOOD.splitlines(keepends=True)
    key = lines[at].split(":", 1)[0]
    lines.insert(at + 1, f"{key}: {value}\n")
    path, result = load("".join(lines))
    assert isinstance(result, ConfigError)
    name = next(iter(yaml.safe_load(key.strip() + ": 0")))
    assert str(path) in str(result)
    assert f"duplicate key {name!r} at line {at + 2} (first at line {at + 1})" in str(result)


MANIFESTS = sorted(load_registry().values(), key=lambda m: m.name)


def _served(manifest) -> list[str]:
    return [i.key for i in CLASSIFIER.current.items if i.executor == manifest.executor]


@PROPERTY
@given(st.sampled_from(MANIFESTS).flatmap(
    lambda m: st.tuples(st.just(m), text_mutations(m.mapping_file.read_text(encoding="utf-8")))))
def test_mutated_shipped_mappings_load_or_are_refused_naming_the_file(case):
    manifest, content = case
    assert_mapping_or_named_config_error(content, utility_statuses=manifest.connector_class.statuses,
                                         served_items=_served(manifest))


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda m: m.name)
def test_the_shipped_mappings_load_through_the_same_check(manifest):
    result = assert_mapping_or_named_config_error(manifest.mapping_file.read_text(encoding="utf-8"),
                                                  utility_statuses=manifest.connector_class.statuses,
                                                  served_items=_served(manifest))
    assert isinstance(result, Mapping), result
