"""The scale-out tests run the real thing: Airflow's CeleryExecutor with two Celery workers as
processes (scripts/airflow_cluster.py), on this machine's PostgreSQL and Redis, against the
simulators on loopback. Marked ``distributed``: ``pytest -m distributed tests/distributed`` runs
them alone. The concurrency proofs (marked ``scale_out`` too) take minutes and are skipped unless
selected: ``make distributed`` runs them after the distributed demo.

The contact-centre database is PostgreSQL here: several workers on several hosts share it, which
the embedded SQLite default is not for.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    """scripts/<name>.py as a module (scripts/ is not a package)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(f"gateway_script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


distributed = load_script("distributed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The concurrency proofs take minutes each: `make test` skips them, `make distributed` runs them."""
    if "scale_out" in (config.option.markexpr or "") or os.environ.get("GATEWAY_SCALE_OUT_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="minutes on the real CeleryExecutor: `make distributed` runs it "
                                   "(pytest -m scale_out tests/distributed)")
    for item in items:
        if item.get_closest_marker("scale_out"):
            item.add_marker(skip)

# The production DAG file, loaded unchanged, with two runs of a DAG allowed at once: how the tests
# force one utility's push onto both workers at the same time (with a pool of two slots).
OVERLAP_DAG_FILE = f'''"""airflow DAG file for the scale-out tests: the production sync DAGs, runs may overlap."""
import runpy

_production = runpy.run_path({str(ROOT / "dags" / "gateway_sync.py")!r})
for _name, _dag in _production.items():
    if _name.endswith("_sync"):
        _dag.max_active_runs = 2
        globals()[_name] = _dag
'''


@pytest.fixture(scope="module")
def overlap_stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A cluster of two single-slot workers (so two tasks at once are on two workers), no requests yet."""
    dags = tmp_path_factory.mktemp("dags")
    (dags / "gateway_sync_overlap.py").write_text(OVERLAP_DAG_FILE, encoding="utf-8")
    run_id = uuid.uuid4().hex[:8]
    # Logs stay in an ignored folder after the run, for whoever has to read why something failed.
    stand = distributed.Stand(ROOT / ".test-state" / f"distributed-{run_id}", workers=2, concurrency=1,
                              heartbeat_timeout=20, dags_folder=dags, run_id=run_id)
    stand.start(requests=0)
    try:
        yield stand
    finally:
        stand.stop()
