"""Operations: `gateway status` (is every utility in step?) and `gateway metrics` (the same figures
for Prometheus).

`status` exits 0 when the gateway copes on its own and 1 when a person is needed (the rule is in
gateway.status and docs/operations.md); 2 stays the error exit of every command.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer

from gateway.cli.app import app, console, database, print_table, sessions
from gateway.db import utcnow

NEEDS_PERSON_EXIT = 1
LETTERS_SHOWN = 20


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _since(now: datetime, then: datetime | None) -> str:
    return _ago(None if then is None else (now - then).total_seconds())


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable, one object per utility")] = False,
) -> int:
    """Per utility: pending, oldest pending, last good push and pull, status lag, failures in 24 h,
    dead letters, breaker, unmapped items. Exits 1 when a person is needed."""
    from gateway.registry import load_registry
    from gateway.status import open_dead_letters, utility_status

    now = utcnow()
    with sessions()() as session:
        rows = utility_status(session, load_registry(), now)
        letters = [] if as_json else open_dead_letters(session, limit=LETTERS_SHOWN + 1)
    attention = any(r.needs_person for r in rows)
    if as_json:
        sys.stdout.write(json.dumps({"at": now.isoformat(), "needs_person": attention,
                                     "utilities": [r.as_json() for r in rows]}, ensure_ascii=False, indent=2) + "\n")
        return NEEDS_PERSON_EXIT if attention else 0
    print_table([(r.utility, r.pending, "-" if r.oldest_pending_age_s is None else _ago(r.oldest_pending_age_s),
                  _since(now, r.last_good_push),
                  _since(now, r.last_good_pull), _ago(r.status_lag_s), r.failures_24h, r.dead_letters,
                  r.unmapped, r.breaker, "NEEDS A PERSON" if r.needs_person else "ok") for r in rows],
                ["utility", "pending", "oldest pending", "last good push", "last good pull", "status lag",
                 "failures 24 h", "dead letters", "unmapped", "breaker", "state"])
    out = console()
    for row in rows:
        for reason in row.reasons:
            out.print(f"{row.utility}: {reason}", markup=False)
    if letters:
        print_table([(d.id, d.provider, d.stream, d.item_key, d.error_class, d.attempts, d.message[:80])
                     for d in letters[:LETTERS_SHOWN]],
                    ["id", "utility", "stream", "item", "class", "attempts", "message"], title="open dead letters")
        if len(letters) > LETTERS_SHOWN:
            out.print("... and more: `gateway dlq list`")
    else:
        out.print("no open dead letters")
    return NEEDS_PERSON_EXIT if attention else 0


@app.command()
def metrics(
    port: Annotated[int | None, typer.Option(help="serve /metrics over HTTP on this port instead of printing")]
    = None,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
) -> None:
    """The status figures in the Prometheus text exposition format (stdout, or served with --port)."""
    from gateway.metrics import exposition

    if port is None:
        with sessions()() as session:
            sys.stdout.write(exposition(session).decode())
        return
    import uvicorn

    from gateway.status_page import create_app

    console(stderr=True).print(f"serving http://{host}:{port}/metrics (and /status.json, /)")
    uvicorn.run(create_app(lambda: database()), host=host, port=port, log_level="warning")
