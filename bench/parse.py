"""parse_growth_ratio: parsing the DAG folder with the city's 130 connectors divided by with the
three real ones, each in a fresh interpreter, with no database or network configured.

The project is copied into a scratch folder (dags/, gateway/, connectors/, mappings/); the big
copy gets generated connectors (manifests like vodokanal's, under their own names) until it holds
``total``. Only the DagBag parse is timed, not the interpreter's start or Airflow's import.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.world import ROOT

COPIED = ("dags", "gateway", "connectors", "mappings")
_PARSE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - started
errors = {k: str(v) for k, v in bag.import_errors.items()}
print(json.dumps({"seconds": seconds, "dags": len(bag.dags), "errors": errors}))
"""


def project_copy(target: Path, total: int) -> Path:
    for name in COPIED:
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    template = (ROOT / "connectors" / "vodokanal" / "manifest.yaml").read_text(encoding="utf-8")
    real = len(list((target / "connectors").glob("*/manifest.yaml")))
    for n in range(total - real):
        folder = target / "connectors" / f"generated_{n:03d}"
        folder.mkdir()
        (folder / "manifest.yaml").write_text(template.replace("name: vodokanal", f"name: generated_{n:03d}"),
                                              encoding="utf-8")
    return target


def parse_once(project: Path, home: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "AIRFLOW_CONN_"))}
    env.update(PYTHONPATH=str(project), AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(project / "dags"))
    done = subprocess.run([sys.executable, "-c", _PARSE, str(project / "dags")], check=True, capture_output=True,
                          text=True, cwd=project, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_parse(total: int, repeats: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gw-bench-parse-") as scratch:
        sides = {}
        for label, count in (("real", 0), ("city", total)):
            project = project_copy(Path(scratch) / label, count)
            home = Path(scratch) / f"airflow-{label}"
            parse_once(project, home)  # warm-up: byte-code written, disk cache filled
            runs = [parse_once(project, home) for _ in range(repeats)]
            if runs[-1]["errors"]:
                raise RuntimeError(f"DAG import errors with {label} connectors: {runs[-1]['errors']}")
            sides[label] = {"dags": runs[-1]["dags"], "seconds": statistics.median(r["seconds"] for r in runs),
                            "runs": [r["seconds"] for r in runs]}
    return {**sides, "ratio": sides["city"]["seconds"] / sides["real"]["seconds"]}
