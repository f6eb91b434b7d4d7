"""Run one DAG under dag.test() in this fresh process, with its folder as Airflow's DAG folder (so
dag.test() finds it serialized); print {"seconds", "state"} as JSON. Used by bench.airflow_runs."""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import redirect_stderr, redirect_stdout


def main(folder: str, dag_id: str, log: str) -> None:
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = folder
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=folder)
    if bag.import_errors:
        raise SystemExit(f"DAG import errors in {folder}: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    with open(log, "a", encoding="utf-8") as out, redirect_stdout(out), redirect_stderr(out):
        started = time.perf_counter()
        run = dag.test()
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "state": str(run.state)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
