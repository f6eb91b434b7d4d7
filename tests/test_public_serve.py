"""``gateway serve`` for real: a subprocess on an ephemeral port serving the demo's kind of database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from gateway.cli import main
from gateway.db import utcnow
from tests.public_fixtures import seed

ROOT = Path(__file__).resolve().parent.parent


def test_gateway_serve_answers_the_page_and_open311(database_url, sessions):
    known = seed(sessions, utcnow())
    env = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", "0"],
                               env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        address = None
        for line in process.stderr:  # uvicorn names the port it was given
            if match := re.search(r"running on (http://127\.0\.0\.1:\d+)", line, re.IGNORECASE):
                address = match.group(1)
                break
        assert address, "gateway serve did not start"
        page = httpx.get(address + "/", timeout=10)
        assert page.status_code == 200 and "вул. Соборності" in page.text and "Підвезення води" in page.text
        rows = httpx.get(address + "/open311/v2/requests.json", timeout=10).json()
        assert [r["service_request_id"] for r in rows] == known.numbers
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()


def test_gateway_serve_without_a_database_says_so(monkeypatch, capsys):
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    assert main(["serve", "--port", "0"]) == 2
    assert "GATEWAY_DATABASE_URL" in capsys.readouterr().err
