"""A second classifier change, as data: tests/data/classifier_changes/2026-900.yaml (insert a new 4.3,
renumber the old 4.3–4.5 to 4.4–4.6; the city has not made it). Dropping the file into a change folder
and upgrading is all it takes: the generic step applies it to a database full of requests, every
request stays on its item and keeps the code it was registered under, a mapping is carried across
by item, the naive edit (the version bumped, the codes kept) is refused instead of sending damaged
containers as bulky waste, and the new item nobody mapped yet dead-letters its own requests while
the rest of ecospectrans' sync goes on.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import gateway.classifier as classifier_module
from gateway.cli import main
from gateway.db import make_engine, session_factory, upgrade, utcnow
from gateway.demo_data import register_request
from gateway.errors import ConfigError
from gateway.mapping import load_mapping, served_items, unmapped_items
from gateway.mapping_upgrade import plan_upgrade, write_upgrade
from gateway.models import ClassifierItem, DeadLetter, Dispatch, Request
from gateway.reference_data import code_of, current_version, items_by_code
from gateway.registry import load_registry
from gateway.sync.engine import run_step
from gateway.sync.push import build_draft
from tests.conformance.helpers import context, start_simulator

TEST_CHANGES = Path(__file__).parent / "data" / "classifier_changes"
NEW = "2026-900"
ECO = load_registry()["ecospectrans"]
STATUSES = ECO.connector_class.statuses


@pytest.fixture
def with_test_change(monkeypatch):
    """The classifier as if the city had adopted the test change: one more folder of change files."""
    monkeypatch.setattr(classifier_module, "CHANGE_DIRS", (classifier_module.CHANGES_DIR, TEST_CHANGES))
    classifier_module.default_classifier.cache_clear()
    yield classifier_module.default_classifier()
    monkeypatch.undo()
    classifier_module.default_classifier.cache_clear()


def _bulk_requests(sessions, count: int) -> None:
    """``count`` requests across the whole classifier, a fifth of them waste, written in one statement
    (register_request is one request at a time: minutes for thousands)."""
    rng = random.Random(15)
    now = utcnow()
    with sessions.begin() as session:
        version = current_version(session)
        items = items_by_code(session)
        waste = [c for c in items if c.startswith("4.")]
        rows = []
        for n in range(count):
            code = rng.choice(waste) if n % 5 == 0 else rng.choice(list(items))
            item = items[code]
            rows.append({"number": f"1520-2026-{n + 1:06d}", "registered_at": now, "channel": "phone",
                         "classifier_item_id": item.id, "registered_code": code,
                         "registered_classifier_version": version, "street": "вул. Соборності",
                         "house": str(n % 90 + 1), "description": item.name_uk,
                         "executor_id": item.default_executor_id, "status": "registered",
                         "deadline_at": now + timedelta(hours=item.deadline_hours), "updated_at": now})
        session.execute(sa.insert(Request), rows)


def test_the_change_applies_to_a_database_full_of_requests_and_moves_none(database_url, with_test_change):
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    _bulk_requests(sessions, 3000)
    with sessions() as session:
        before = dict(session.execute(sa.select(Request.number, ClassifierItem.key).join(Request.item)).all())
        registered = dict(session.execute(sa.select(Request.number, Request.registered_code)).all())
    assert len(before) == 3000 and Counter(before.values())["container-damaged"] >= 40

    started = time.perf_counter()
    upgrade(database_url)  # the generic step: nothing but the change file says what to do
    print(f"classifier {NEW} applied to {len(before)} requests in {time.perf_counter() - started:.2f} s")

    with sessions() as session:
        assert current_version(session) == NEW
        after = dict(session.execute(sa.select(Request.number, ClassifierItem.key).join(Request.item)).all())
        assert after == before  # every request on its item
        assert dict(session.execute(sa.select(Request.number, Request.registered_code)).all()) == registered
        codes = items_by_code(session)
        assert [codes[c].key for c in ("4.3", "4.4", "4.5", "4.6")] == [
            "hazardous-household-waste", "container-damaged", "bulky-waste", "illegal-dump"]
        damaged = codes["4.4"]
        assert code_of(session, damaged.id, "2021-329") == "4.3"
        assert session.scalar(sa.select(sa.func.count()).where(Request.classifier_item_id == codes["4.3"].id)) == 0
        # the code a request was registered under stays what it was: 4.3 (2021) for a damaged container
        assert set(session.scalars(sa.select(Request.registered_code).where(Request.classifier_item_id == damaged.id))
                   ) == {"4.3"}
    upgrade(database_url)  # a second upgrade changes nothing
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ClassifierItem)) == len(codes)
    engine.dispose()


def test_a_mapping_is_carried_across_by_item_and_the_naive_edit_is_refused(tmp_path, with_test_change):
    classifier = with_test_change
    old = load_mapping(ECO.mapping_file, utility_statuses=STATUSES, classifier=classifier)
    path = tmp_path / "ecospectrans.yaml"
    shipped = ECO.mapping_file.read_text(encoding="utf-8")

    # the naive edit: bump the version, keep the codes; 4.4 now means the damaged container
    path.write_text(shipped.replace('classifier_version: "2021-329"', f'classifier_version: "{NEW}"'),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"job_types\['4.3'\]: in classifier 2026-900 this code is 4.3 "
                                          r"hazardous-household-waste .*entry is for item container-damaged"):
        load_mapping(path, utility_statuses=STATUSES, classifier=classifier)
    # without the item names in the file, the same edit would load and send damaged containers as bulky
    # waste: the trap is real, the names are what catch it
    unguarded = path.read_text(encoding="utf-8")
    for entry in old.codes.values():
        unguarded = unguarded.replace(f"item: {entry}, ", "")
    path.write_text(unguarded, encoding="utf-8")
    trapped = load_mapping(path, utility_statuses=STATUSES, classifier=classifier)
    assert trapped.rule_for_item("container-damaged").job_type == "BULKY_WASTE"

    # the way across: `gateway mapping upgrade`, by item
    path.write_text(shipped, encoding="utf-8")
    plan = plan_upgrade(path, classifier, executor=ECO.executor)
    assert [(a, b, item.key) for a, b, item in plan.moved] == [
        ("4.3", "4.4", "container-damaged"), ("4.4", "4.5", "bulky-waste"), ("4.5", "4.6", "illegal-dump")]
    assert [i.key for i in plan.unmapped] == ["hazardous-household-waste"]
    write_upgrade(plan, classifier)
    text = path.read_text(encoding="utf-8")
    assert '"4.4": {item: container-damaged, job_type: CONTAINER_DAMAGED' in text
    assert "# переповнений або пошкоджений контейнер" in text  # the file's comments stay
    served = [i.key for i in served_items(classifier, ECO.executor)]
    new = load_mapping(path, utility_statuses=STATUSES, served_items=served, classifier=classifier)
    assert new.classifier_version == NEW
    assert new.job_types == old.job_types and new.outage_services == old.outage_services
    assert new.unmapped == ("hazardous-household-waste",)
    # a naive edit already made is repaired too: the item names win over the codes
    path.write_text(shipped.replace('classifier_version: "2021-329"', f'classifier_version: "{NEW}"'),
                    encoding="utf-8")
    write_upgrade(plan_upgrade(path, classifier), classifier)
    assert load_mapping(path, utility_statuses=STATUSES, classifier=classifier).job_types == old.job_types


def test_diff_and_upgrade_commands_show_what_moved_and_what_it_touches(capsys, with_test_change, monkeypatch):
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))  # the CLI reconfigures logging
    assert main(["classifier", "diff", "2021-329", NEW]) == 0
    out = capsys.readouterr().out
    assert "container-damaged" in out and "job_types['4.3']: 4.3 → 4.4" in out
    assert "hazardous-household-waste" in out and "new item, unmapped" in out
    before = ECO.mapping_file.read_bytes()
    assert main(["mapping", "upgrade", "ecospectrans", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '+  "4.4": {item: container-damaged, job_type: CONTAINER_DAMAGED' in out
    assert "not mapped: 4.3 hazardous-household-waste" in out
    assert ECO.mapping_file.read_bytes() == before  # a dry run writes nothing
    assert main(["classifier", "diff", "2021-329", "1999-1"]) == 2


def test_an_unmapped_new_item_dead_letters_its_requests_while_the_rest_of_the_sync_goes_on(
        database_url, with_test_change, tmp_path):
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        items = items_by_code(session)
        numbers = {
            code: register_request(session, item=items[code], street="вул. Кобилянського", house=str(10 + n),
                                   description=items[code].name_uk, registered_at=utcnow()).number
            for n, code in enumerate(("4.3", "4.4"))  # the new hazardous-waste item, the damaged container
        }
    sim = start_simulator(ECO)
    # the shipped mapping, still written for 2021-329: its codes are read in 2021-329, so they stay on
    # their items; only the new item has no entry
    ctx = context(ECO, sim, engine)
    try:
        assert ctx.mapping.unmapped == ("hazardous-household-waste",)
        assert [i.code for i in unmapped_items(ECO.mapping_file, ECO.executor)] == ["4.3"]  # for status
        counts = {step: run_step(ctx, step) for step in ECO.steps}  # none raises
        with sessions() as session:
            state = dict(session.execute(sa.select(Request.number, Dispatch.state).join(Dispatch.request)).all())
            letter = session.scalars(sa.select(DeadLetter).where(DeadLetter.item_key == numbers["4.3"])).one()
            damaged = session.scalars(sa.select(Request).where(Request.number == numbers["4.4"])).one()
            dispatch = session.scalars(sa.select(Dispatch).where(Dispatch.request_id == damaged.id)).one()
            # what the utility was sent for the damaged container: its own job type, never bulky waste
            assert build_draft(ctx, damaged, dispatch, "4.4").job_type == "CONTAINER_DAMAGED"
        assert state[numbers["4.3"]] == "dead" and "4.3" in letter.message
        assert state[numbers["4.4"]] == "sent" and numbers["4.4"] in sim.jobs_by_reference()
        assert numbers["4.3"] not in sim.jobs_by_reference()
        assert counts["push_jobs"]["unmapped"] == 1
    finally:
        ctx.connector.close()
        sim.stop()
        engine.dispose()


def test_change_files_are_found_not_listed(tmp_path):
    """A change file in the folder is a change; one that builds on no version is refused naming it."""
    folder = tmp_path / "changes"
    folder.mkdir()
    shutil.copy(classifier_module.CHANGES_DIR / "2021-329.yaml", folder / "a.yaml")
    shutil.copy(TEST_CHANGES / "2026-900.yaml", folder / "b.yaml")
    loaded = classifier_module.load_classifier(change_dirs=(folder,))
    assert [v.version for v in loaded.versions] == ["2020-339", "2021-329", NEW]
    (folder / "a.yaml").unlink()
    with pytest.raises(ConfigError, match=r"b.yaml: based on 2021-329, but the latest version is 2020-339"):
        classifier_module.load_classifier(change_dirs=(folder,))
    (folder / "b.yaml").write_text((TEST_CHANGES / "2026-900.yaml").read_text(encoding="utf-8").replace(
        'code: "4.3"', "code: 4.3"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"b.yaml: insert\[0\].code: Input should be a valid string"):
        classifier_module.load_classifier(change_dirs=(folder,))


def test_once_the_mapping_has_the_item_its_dead_letters_are_replayed_in_bulk(database_url, sessions, capsys,
                                                                               monkeypatch):
    """`gateway dlq retry --all --provider X`: every open dead letter of one utility back into the sync;
    one the sync cannot take back (from the utility's feed) is left open with its reason."""
    from gateway.sync.bookkeeping import record_dead_letter
    from tests.sync_helpers import fake_context, register

    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    ctx = fake_context(sessions)
    numbers = [register(sessions, "container-not-emptied", house=str(h)) for h in range(1, 6)]  # unmapped
    mapped = register(sessions, house="99")
    assert run_step(ctx, "push_jobs")["unmapped"] == 5
    with sessions.begin() as session:
        record_dead_letter(session, provider="fakeutil", stream="status_changes", item_key="J9", payload={},
                           error_class="permanent", message="unknown status", now=utcnow())
    assert main(["--database", database_url, "dlq", "retry", "--all", "--provider", "fakeutil"]) == 0
    out = capsys.readouterr().out
    assert "fakeutil: 5 of 6 open dead letters queued again" in out and "came from the utility's feed" in out
    with sessions() as session:
        state = dict(session.execute(sa.select(Request.number, Dispatch.state).join(Dispatch.request)).all())
        assert {state[n] for n in numbers} == {"pending"} and state[mapped] == "sent"
        assert session.scalar(sa.select(sa.func.count()).where(DeadLetter.state == "open")) == 1
    assert main(["--database", database_url, "dlq", "retry", "--all"]) == 2  # --all names its utility
