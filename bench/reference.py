"""The reference clients: what the wire and the database allow, written as plainly as possible.

Each makes the same calls the gateway makes (same bodies, same count, same keep-alive connection
count) and nothing else: a bare ``requests.Session`` loop, a bare zeep loop, and a paged fetch of
the change feed followed by one bulk upsert of the same rows with the same driver (psycopg).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import requests
from zeep import Client
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from connectors.teplotsentral.wire import BINDING_NAME, WSDL_FILE
from connectors.vodokanal.wire import API_PREFIX


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def bare_rest_push(base_url: str, api_key: str, bodies: list[dict[str, Any]], connections: int = 1) -> float:
    """POST each body as a new work order over ``connections`` keep-alive sessions; seconds taken."""

    def loop(share: list[dict[str, Any]]) -> None:
        with requests.Session() as session:
            session.headers.update({"X-Api-Key": api_key, "Accept": "application/json"})
            for body in share:
                reply = session.post(f"{base_url}{API_PREFIX}/work-orders", json=body,
                                     headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=30)
                reply.raise_for_status()
                reply.json()["id"]

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(loop, _split(bodies, connections)))
    return time.perf_counter() - started


def bare_soap_push(address: str, username: str, password: str, calls: list[dict[str, Any]],
                   connections: int = 1) -> float:
    """RegisterComplaint with each set of arguments, one zeep client per connection; seconds taken."""

    def loop(share: list[dict[str, Any]]) -> None:
        client = Client(str(WSDL_FILE), transport=Transport(session=requests.Session()),
                        wsse=UsernameToken(username, password))
        service = client.create_service(BINDING_NAME, address)
        for arguments in share:
            if not service.RegisterComplaint(**arguments):
                raise RuntimeError("RegisterComplaint answered without a ComplaintId")

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(loop, _split(calls, connections)))
    return time.perf_counter() - started


def fetch_feed(base_url: str, api_key: str, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """Every item of the vodokanal change feed, page by page from the start; (items, last seq)."""
    items: list[dict[str, Any]] = []
    after = 0
    with requests.Session() as session:
        session.headers.update({"X-Api-Key": api_key, "Accept": "application/json"})
        while True:
            page = session.get(f"{base_url}{API_PREFIX}/work-orders/changes",
                               params={"after": after, "limit": page_size}, timeout=30).json()
            items.extend(page["items"])
            after = page["next_after"]
            if not page["has_more"]:
                return items, after


def bulk_upsert(dsn: str, provider: str, changes: Iterable[dict[str, Any]], status_map: dict[str, str],
                cursor_value: str) -> None:
    """Apply the changes in one transaction: the latest per job onto its dispatch and request, every
    change into the request's history, and the cursor; what the gateway's pull writes, in bulk."""
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE incoming (seq bigint, job_id text, status text, cc_status text, "
                    "changed_at timestamptz, comment text) ON COMMIT DROP")
        with cur.copy("COPY incoming FROM STDIN") as copy:
            for c in changes:
                copy.write_row((c["seq"], c["order_id"], c["status"], status_map[c["status"]], c["changed_at"],
                                c.get("comment")))
        cur.execute(
            "CREATE TEMP TABLE latest ON COMMIT DROP AS SELECT DISTINCT ON (i.job_id) i.*, d.id AS dispatch_id, "
            "d.request_id FROM incoming i JOIN gw_dispatches d ON d.provider = %s AND d.job_id = i.job_id "
            "ORDER BY i.job_id, i.changed_at DESC, i.seq DESC", (provider,))
        cur.execute("UPDATE gw_dispatches d SET provider_status = l.status, last_change_at = l.changed_at, "
                    "last_change_pos = l.seq, updated_at = now() FROM latest l WHERE d.id = l.dispatch_id")
        cur.execute("INSERT INTO request_history (request_id, at, actor, field, old_value, new_value, note) "
                    "SELECT d.request_id, i.changed_at, %s, 'status', NULL, i.cc_status, i.comment FROM incoming i "
                    "JOIN gw_dispatches d ON d.provider = %s AND d.job_id = i.job_id ORDER BY i.changed_at, i.seq",
                    (f"sync:{provider}", provider))
        cur.execute("UPDATE requests r SET status = l.cc_status, updated_at = l.changed_at FROM latest l "
                    "WHERE r.id = l.request_id")
        cur.execute("INSERT INTO gw_cursors (provider, stream, value, updated_at) VALUES (%s, 'status_changes', %s, "
                    "now()) ON CONFLICT (provider, stream) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at", (provider, json.dumps(cursor_value)[1:-1]))


def libpq_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
