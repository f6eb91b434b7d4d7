"""``python -m simulators serve``: a real process starting the simulators and printing how to connect."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from connectors.cityservice.connector import CityserviceConnector
from connectors.ecospectrans.connector import EcospectransConnector
from connectors.teplotsentral.connector import TeplotsentralConnector
from connectors.vodokanal.connector import VodokanalConnector
from gateway.connections import parse_airflow_conn
from gateway.connector import Timeouts

ROOT = Path(__file__).resolve().parents[2]
CONNECTORS = {"VODOKANAL_API": VodokanalConnector, "TEPLOTSENTRAL_SOAP": TeplotsentralConnector,
              "ECOSPECTRANS_API": EcospectransConnector, "CITYSERVICE_API": CityserviceConnector}


def test_serve_all_prints_connections_that_work_and_the_pools():
    # port base 0: free ports, as every test server here (the command's default is fixed ports)
    command = [sys.executable, "-m", "simulators", "serve", "--all", "--port-base", "0", "--tick", "0"]
    child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("# ready"):
            line = child.stdout.readline()
            assert line, "the command ended before it was ready"
            lines.append(line.strip())
        exports = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
        assert sorted(exports) == sorted(f"AIRFLOW_CONN_{name}" for name in CONNECTORS)
        for name, connector_class in CONNECTORS.items():
            config = parse_airflow_conn(name.lower(), exports[f"AIRFLOW_CONN_{name}"])
            connector = connector_class(config, timeouts=Timeouts(connect=2, read=5))
            assert connector.find_jobs("1520-2026-000001") == []  # reachable, credentials accepted
            connector.close()
        pools = [line for line in lines if line.startswith("airflow pools set")]
        assert pools == ["airflow pools set utility_vodokanal 1 'vodokanal sync'",
                         "airflow pools set utility_teplotsentral 1 'teplotsentral sync'",
                         "airflow pools set utility_ecospectrans 1 'ecospectrans sync'",
                         "airflow pools set utility_cityservice 1 'cityservice sync'"]
    finally:
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=20) == 0
