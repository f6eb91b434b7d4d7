"""The Airflow plugin's endpoints over HTTP: its FastAPI app mounted under its url_prefix as Airflow's
API server mounts it, served by uvicorn on loopback, on a database with known work."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from gateway.errors import PermanentError, RetriableError
from gateway.sync.engine import run_step
from tests.fakes import FakeUtility
from tests.file_modules import load_file
from tests.sync_helpers import fake_context, register

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def _serve(app: FastAPI) -> Iterator[str]:
    """``app`` on an ephemeral loopback port, by uvicorn in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def served(database_url, monkeypatch) -> Iterator[str]:
    """The plugin's app mounted under its url_prefix, as Airflow's API server mounts it; yields the page's URL."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    plugin = load_file(ROOT / "plugins" / "gateway_status.py", "gateway_status_plugin").GatewayStatusPlugin
    (entry,) = plugin.fastapi_apps
    root = FastAPI()
    root.mount(entry["url_prefix"], entry["app"])
    with _serve(root) as base:
        yield f"{base}{entry['url_prefix']}/"


def test_the_plugin_declares_a_nav_view_onto_its_own_app():
    plugin = load_file(ROOT / "plugins" / "gateway_status.py", "gateway_status_plugin").GatewayStatusPlugin
    (app,) = plugin.fastapi_apps
    (view,) = plugin.external_views
    assert view["destination"] == "nav" and not view["href"].startswith("/")  # relative, as Airflow 3.1+ wants
    assert "/" + view["href"].rstrip("/") == app["url_prefix"] and view["url_route"] == app["url_prefix"].lstrip("/")


def test_page_json_and_metrics_over_http_carry_counts_but_no_resident_data(sessions, served):
    utility = FakeUtility()
    ctx = fake_context(sessions, utility)
    refused = register(sessions, contact_phone="+380671234567", street="вул. Приватна")
    utility.failures_by_reference[refused] = PermanentError("422: address.house must not be empty")
    run_step(ctx, "push_jobs")

    def down(cursor, limit):
        raise RetriableError("502 from upstream while reading вул. Приватна, 7")

    ctx.connector.fetch_changes = down
    with pytest.raises(RetriableError):
        run_step(ctx, "pull_status_changes")  # a failing step: its error text is kept in gw_sync_runs only

    status = requests.get(served + "status.json", timeout=30)
    assert status.status_code == 200 and status.headers["content-type"].startswith("application/json")
    body = status.json()
    (row,) = [u for u in body["utilities"] if u["utility"] == "fakeutil"]
    assert body["needs_person"] is True and row["dead_letters"] == 1 and row["pending"] == 0
    assert any("pull_status_changes keeps failing (RetriableError" in r for r in row["reasons"])

    metrics = requests.get(served + "metrics", timeout=30)
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    dead = {s.labels["utility"]: s.value for s in families["gateway_dead_letters_open"].samples}
    assert dead["fakeutil"] == 1 and dead["vodokanal"] == 0

    page = requests.get(served, timeout=30)
    assert page.status_code == 200 and "fakeutil" in page.text and "потрібна людина" in page.text
    assert 'href="status.json"' in page.text  # relative links: the page works under any prefix
    for answer in (status.text, metrics.text, page.text):
        assert refused not in answer and "380671234567" not in answer and "Приватна" not in answer
        assert "address.house" not in answer  # a utility's error text stays in the CLI and the logs


def test_an_unreachable_database_is_a_503_without_details(tmp_path):
    from gateway.status_page import create_app

    with _serve(create_app(lambda: f"sqlite:///{tmp_path}/no/such/dir/secret-host.db")) as base:
        replies = [requests.get(base + path, timeout=30) for path in ("/", "/status.json", "/metrics")]
    for reply in replies:
        assert reply.status_code == 503 and reply.json() == {"error": "the contact-centre database is unavailable"}
        assert "secret-host" not in reply.text
