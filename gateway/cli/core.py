"""The everyday commands: database, reference data, demo data, sync, registry, exports (status: ops.py)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

import typer

from gateway.cli.app import app, console, database, print_table, sessions
from gateway.db import upgrade, utcnow

db_app = typer.Typer(help="Create or upgrade the contact-centre database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="alembic revision")] = "head") -> None:
    """Create or upgrade the contact-centre database to REVISION."""
    upgrade(database(), revision)
    console().print(f"database at revision {revision}")


@app.command()
def load() -> None:
    """Load executors and classifier names from the data files."""
    from gateway.reference_data import sync_classifier_names, sync_executors

    with sessions().begin() as session:
        console().print(f"executors changed: {sync_executors(session)}; classifier fields changed: "
                        f"{sync_classifier_names(session)}")


@app.command("demo-data")
def demo_data(
    count: Annotated[int, typer.Option(help="how many requests to register")] = 200,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same requests)")] = 1520,
    spread_hours: Annotated[float, typer.Option(help="registered over this many hours before now")] = 6.0,
    life: Annotated[str, typer.Option(help="registered | open | aged (how far each request has gone)")]
    = "registered",
) -> None:
    """Register realistic demo requests on real Kryvyi Rih streets, in the city's proportions.

    Written in bulk (COPY on PostgreSQL): a million requests with their history take minutes."""
    from gateway.cli.progress import progress_bar
    from gateway.demo_data import bulk_generate

    if life not in ("registered", "open", "aged"):
        raise typer.BadParameter(f"--life {life!r}: one of registered, open, aged")
    with sessions().begin() as session, progress_bar("registering requests", count) as advance:
        result = bulk_generate(session, count, now=utcnow(), seed=seed, spread=timedelta(hours=spread_hours),
                               life=life, on_progress=advance)  # type: ignore[arg-type]
    console().print(f"registered {result.count} requests")


@app.command()
def sync(
    connector: Annotated[str, typer.Argument(help="connector name, see `gateway registry`")],
    step: Annotated[list[str] | None, typer.Option(help="only this step (repeatable)")] = None,
) -> None:
    """Run one connector's sync once, outside Airflow."""
    from gateway.connections import from_environment
    from gateway.runner import manifest_named, run_sync_steps

    manifest = manifest_named(connector)
    results = run_sync_steps(connector, step or None, from_environment(manifest.conn_id), database())
    for name, counts in results.items():
        console().print(f"{name}: {json.dumps(counts, ensure_ascii=False)}", markup=False)


@app.command("late-notices")
def late_notices(days: Annotated[int, typer.Option(help="look back this many days")] = 7) -> None:
    """Planned works announced late (under 10 working days ahead), per utility."""
    from gateway.status import late_notices as count_late

    with sessions()() as session:
        rows = count_late(session, utcnow() - timedelta(days=days))
    print_table(rows, ["utility", "planned works announced", "announced late (< 10 working days)"])


@app.command()
def registry() -> None:
    """The registered connectors."""
    from gateway.registry import load_registry

    print_table([(m.name, m.title, m.protocol, m.conn_id, m.schedule, ", ".join(m.steps))
                 for m in load_registry().values()],
                ["name", "utility", "protocol", "connection", "schedule", "steps"])


class ExportWhat(StrEnum):
    announcements = "announcements"
    requests_open311 = "requests-open311"
    services_open311 = "services-open311"


class ExportFormat(StrEnum):
    json = "json"
    ical = "ical"


@app.command()
def export(
    what: Annotated[ExportWhat, typer.Argument(help="what to export")],
    format: Annotated[ExportFormat, typer.Option("--format", help="announcements only")] = ExportFormat.json,
) -> None:
    """Announcements and requests for the city site and chat bots, on stdout."""
    from gateway import export_views

    with sessions()() as session:
        sys.stdout.write(export_views.export(session, what.value, format.value, now=utcnow()))
