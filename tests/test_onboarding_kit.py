"""The onboarding kit (`gateway connector new|check|ping`), end to end.

A utility is scaffolded into a temporary project tree (nothing is left in the repo), its mapping
filled in the way a person does it (the suggested lines uncommented), and then: `check` passes, the
scaffolded connector and simulator sync through the real engine over HTTP, `check` names the file
and entry of what is wrong, and `ping` tells reachability and credential failures apart without
printing a secret.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import connectors
import simulators
from gateway.cli import main
from gateway.connections import ConnectionConfig, to_airflow_json
from gateway.models import Dispatch, Executor, Request
from gateway.reference_data import EXECUTORS_FILE
from gateway.registry import load_registry
from gateway.statuses import RequestStatus
from gateway.sync.engine import run_step
from tests.conformance import test_conformance as shared_suite
from tests.conformance.helpers import context, no_doubles, register_for, start_simulator

NAME = "kit_sample"
EXECUTOR = "sitiservice"  # ТОВ «СІТІСЕРВІС-КР»'s items are in the classifier; its connector is another's work


def _forget_modules() -> None:
    for module in [m for m in sys.modules if m.startswith((f"connectors.{NAME}", f"simulators.{NAME}"))]:
        del sys.modules[module]


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project tree holding only the scaffolded utility; its packages importable beside the repo's
    (``connectors`` is a namespace package: it follows sys.path; ``simulators`` is a regular one)."""
    assert main(["connector", "new", NAME, "--executor", EXECUTOR, "--root", str(tmp_path)]) == 0
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(simulators, "__path__", [*simulators.__path__, str(tmp_path / "simulators")])
    _forget_modules()
    assert str(tmp_path / "connectors") in list(connectors.__path__)
    yield tmp_path
    _forget_modules()


def mapping_file(root: Path) -> Path:
    return root / "mappings" / f"{NAME}.yaml"


def fill_mapping(root: Path, keep_out: str | None = None) -> None:
    """Confirm the suggested job_types lines (all, or all but the item ``keep_out``)."""
    lines = mapping_file(root).read_text(encoding="utf-8").splitlines(keepends=True)
    filled = [line.replace('  # "', '  "', 1) if line.startswith('  # "') and (keep_out is None or
                                                                             f"item: {keep_out}," not in line)
              else line for line in lines]
    mapping_file(root).write_text("".join(filled), encoding="utf-8")


def connect_executor(root: Path) -> None:
    """What a person does in gateway/data/executors.yaml (here: the tree's own copy): name the connector
    as the executor's integration."""
    text = EXECUTORS_FILE.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith(f"- {{id: {EXECUTOR},"))
    target = root / "gateway" / "data" / "executors.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    connected = (re.sub(r"integration: \w+", f"integration: {NAME}", line) if "integration:" in line
                 else line.removesuffix("}") + f", integration: {NAME}}}")
    target.write_text(text.replace(line, connected), encoding="utf-8")


def check(root: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["connector", "check", NAME, "--root", str(root)])
    return code, capsys.readouterr().out


def test_scaffold_writes_the_layout_and_refuses_an_existing_name(tree, capsys):
    for path in (f"connectors/{NAME}/manifest.yaml", f"connectors/{NAME}/connector.py", f"connectors/{NAME}/wire.py",
                 f"mappings/{NAME}.yaml", f"simulators/{NAME}.py", f"contracts/{NAME}.openapi.yaml",
                 f"tests/connectors/test_{NAME}.py"):
        assert (tree / path).is_file(), path
    capsys.readouterr()
    assert main(["connector", "new", NAME, "--executor", EXECUTOR, "--root", str(tree)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["connector", "new", "vodokanal"]) == 2  # the repo's own: refused before anything is written
    assert main(["connector", "new", "kit_other", "--protocol", "soap", "--executor", EXECUTOR,
                 "--root", str(tree)]) == 2
    assert not (tree / "connectors" / "kit_other").exists()


def test_the_scaffold_passes_check_once_its_mapping_is_filled_in(tree, capsys):
    code, out = check(tree, capsys)
    assert code == 1
    assert "served but not mapped" in out and "roof-leak" in out and "yard-upkeep" in out
    fill_mapping(tree)
    code, out = check(tree, capsys)
    assert code == 1, out
    assert re.search(rf"gateway/data/executors\.yaml\s+{EXECUTOR}\s+integration is \S+, not '{NAME}'", out), out
    connect_executor(tree)
    code, out = check(tree, capsys)
    assert (code, "every served item is mapped") == (0, out.strip().rsplit(";", 1)[-1].strip()), out


def test_check_names_an_unmapped_item_and_a_broken_entry(tree, capsys):
    connect_executor(tree)
    fill_mapping(tree, keep_out="lift-stopped")
    code, out = check(tree, capsys)
    assert code == 1
    assert re.search(r"3\.23\s+lift-stopped", out) and "roof-leak" not in out
    text = mapping_file(tree).read_text(encoding="utf-8")
    mapping_file(tree).write_text(text.replace('"3.20": {item: roof-leak,', '"3.99": {item: roof-leak,'),
                                  encoding="utf-8")
    code, out = check(tree, capsys)
    assert code == 1
    assert re.search(rf"mappings/{NAME}\.yaml\s+job_types\['3\.99'\]\s+no such code", out), out
    mapping_file(tree).write_text(text.replace("job_type: ROOF_LEAK", "job_type: ROOF_REPAIRS"), encoding="utf-8")
    code, out = check(tree, capsys)
    assert re.search(rf"mappings/{NAME}\.yaml\s+job_types\['3\.20'\]\s+job type 'ROOF_REPAIRS' is not in "
                     rf"contracts/{NAME}\.openapi\.yaml", out), out


def test_the_scaffolded_connector_pushes_and_pulls_through_the_engine(tree, engine, sessions):
    fill_mapping(tree)
    manifest = load_registry(tree / "connectors")[NAME]
    assert manifest.mapping_file == mapping_file(tree)
    assert "pull_planned_works" not in manifest.steps  # declared: it has no planned works
    with sessions.begin() as session:  # what `gateway load` does after the executors.yaml edit
        session.get(Executor, EXECUTOR).integration = NAME
    sim = manifest.simulator_class()(seed=7, reject_rate=0).start()
    try:
        numbers = register_for(sessions, manifest, 5)
        ctx = context(manifest, sim, engine)
        counts = run_step(ctx, "push_jobs")
        assert (counts.get("created"), counts.get("dead_lettered", 0)) == (5, 0), counts
        assert sorted(sim.jobs_by_reference()) == sorted(numbers) and no_doubles(sim) == {}
        sim.advance(2)  # NEW -> ACCEPTED -> IN_PROGRESS
        run_step(ctx, "pull_status_changes")
        with sessions() as session:
            statuses = {r.status for r in session.scalars(select(Request).where(Request.number.in_(numbers)))}
            assert statuses == {RequestStatus.IN_PROGRESS}
            assert {d.job_id for d in session.scalars(select(Dispatch))} == {
                ids[0] for ids in sim.jobs_by_reference().values()}
        assert sim.contract_violations == []
    finally:
        sim.stop()


def _ping(root: Path, capsys, monkeypatch, config: ConnectionConfig) -> tuple[int, str]:
    monkeypatch.setenv(f"AIRFLOW_CONN_{NAME.upper()}_API", to_airflow_json(config))
    capsys.readouterr()
    code = main(["connector", "ping", NAME, "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_ping_tells_success_credentials_tls_and_a_closed_port_apart(tree, capsys, monkeypatch):
    manifest = load_registry(tree / "connectors")[NAME]
    with manifest.simulator_class()(password="s3cret-Of-The-Utility") as sim:
        good = sim.connection_config()
        code, out = _ping(tree, capsys, monkeypatch, good)
        assert code == 0 and "accepts the credentials" in out, out
        wrong = ConnectionConfig(good.conn_id, good.base_url, login=good.login, password="Wr0ng-pass-123")
        code, out = _ping(tree, capsys, monkeypatch, wrong)
        assert code == 1 and "refused the credentials" in out and "HTTP 401" in out, out
        assert "Wr0ng-pass-123" not in out and "s3cret" not in out
        plain = ConnectionConfig(good.conn_id, f"https://127.0.0.1:{sim.port}", login=good.login,
                                 password=good.password)  # https to a server that speaks plain HTTP
        code, out = _ping(tree, capsys, monkeypatch, plain)
        assert code == 1 and f"TLS with 127.0.0.1:{sim.port} failed" in out, out
    with socket.socket() as spare:  # a port nobody listens on
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    closed = ConnectionConfig(good.conn_id, f"http://127.0.0.1:{port}", login=good.login, password=good.password)
    code, out = _ping(tree, capsys, monkeypatch, closed)
    assert code == 1 and f"cannot connect to 127.0.0.1:{port}" in out, out
    assert "s3cret" not in out


def test_ping_falls_back_to_a_lookup_for_a_connector_without_ping(capsys, monkeypatch):
    from simulators.vodokanal import VodokanalSimulator

    with VodokanalSimulator() as sim:
        good = sim.connection_config()
        monkeypatch.setenv("AIRFLOW_CONN_VODOKANAL_API", to_airflow_json(good))
        assert main(["connector", "ping", "vodokanal"]) == 0
        assert "(find_jobs)" in capsys.readouterr().out
        wrong = ConnectionConfig(good.conn_id, good.base_url, password="not-the-key-42")
        monkeypatch.setenv("AIRFLOW_CONN_VODOKANAL_API", to_airflow_json(wrong))
        assert main(["connector", "ping", "vodokanal"]) == 1
        out = capsys.readouterr().out
        assert "refused the credentials" in out and "not-the-key-42" not in out and good.password not in out



def test_the_scaffolded_tests_pass_against_the_scaffolded_simulator(tree):
    """The generated tests/connectors/test_<name>.py, each run with the simulator its fixture starts."""
    path = tree / "tests" / "connectors" / f"test_{NAME}.py"
    spec = importlib.util.spec_from_file_location(f"scaffolded_test_{NAME}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
    assert len(tests) == 3
    for test in tests:
        with module.KitSampleSimulator(reject_rate=0) as simulator:  # what the file's `sim` fixture yields
            test(simulator)


@pytest.mark.parametrize("name", sorted(load_registry()))
def test_every_registered_connector_passes_check(name, capsys):
    assert main(["connector", "check", name]) == 0, capsys.readouterr().out


SHARED_CASES = [name for name in dir(shared_suite) if name.startswith("test_") and "planned_works" not in name]


@pytest.mark.parametrize("case", SHARED_CASES)
def test_the_scaffolded_connector_passes_the_shared_conformance_suite(case, tree, engine, sessions, monkeypatch):
    """Each case of tests/conformance/test_conformance.py on the scaffold (its planned-works case aside:
    the scaffold declares no such stream), the way the suite runs a registered connector."""
    fill_mapping(tree)
    manifest = load_registry(tree / "connectors")[NAME]
    monkeypatch.setitem(shared_suite.REGISTRY, NAME, manifest)
    with sessions.begin() as session:
        session.get(Executor, EXECUTOR).integration = NAME
    test = getattr(shared_suite, case)
    if "sim" not in inspect.signature(test).parameters:
        test(NAME)
        return
    sim = start_simulator(manifest)
    try:
        test(NAME, sim, engine, sessions)
        assert sim.contract_violations == []
    finally:
        sim.stop()
