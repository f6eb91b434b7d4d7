"""The ``gateway`` command: what is not Airflow's job.

  gateway db upgrade                  create or upgrade the contact-centre database
  gateway load                        executors and classifier names from the data files
  gateway demo-data --count 200       realistic requests on real Kryvyi Rih streets
  gateway sync vodokanal [--step S]   run one connector's sync once, outside Airflow
  gateway status                      what is pending, failed or dead-lettered, per utility
  gateway dlq list|show|retry|discard dead letters
  gateway late-notices [--days 7]     planned works announced late, per utility
  gateway registry                    the registered connectors
  gateway export announcements --format json|ical | requests-open311 | services-open311

The database comes from GATEWAY_DATABASE_URL (or --database); a utility's connection from its
AIRFLOW_CONN_<CONN_ID> variable, the same one Airflow reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from gateway import dlq
from gateway.db import make_engine, session_factory, upgrade, utcnow
from gateway.errors import GatewayError


def _sessions(args: argparse.Namespace):
    return session_factory(make_engine(args.database))


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain text table (operators read it in a terminal and in Airflow logs)."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells[1:]]
    return "\n".join(out)


def cmd_db(args: argparse.Namespace) -> None:
    upgrade(args.database, args.revision)
    print(f"database at revision {args.revision}")


def cmd_load(args: argparse.Namespace) -> None:
    from gateway.reference_data import sync_classifier_names, sync_executors

    with _sessions(args).begin() as session:
        print(f"executors changed: {sync_executors(session)}; classifier fields changed: "
              f"{sync_classifier_names(session)}")


def cmd_demo_data(args: argparse.Namespace) -> None:
    from gateway.demo_data import generate

    with _sessions(args).begin() as session:
        created = generate(session, args.count, now=utcnow(), seed=args.seed)
    print(f"registered {len(created)} requests")


def cmd_sync(args: argparse.Namespace) -> None:
    from gateway.connections import from_environment
    from gateway.runner import manifest_named, run_sync_steps

    manifest = manifest_named(args.connector)
    results = run_sync_steps(args.connector, args.step or None, from_environment(manifest.conn_id), args.database)
    for step, counts in results.items():
        print(f"{step}: {json.dumps(counts, ensure_ascii=False)}")


def cmd_status(args: argparse.Namespace) -> None:
    from gateway.status import dispatch_summary, open_dead_letters

    with _sessions(args)() as session:
        print(table(dispatch_summary(session), ["utility", "state", "dispatches", "oldest"]))
        letters = open_dead_letters(session)
    print()
    print(table([(d.id, d.provider, d.stream, d.item_key, d.error_class, d.attempts, d.message[:80])
                 for d in letters], ["id", "utility", "stream", "item", "class", "attempts", "message"])
          if letters else "no open dead letters")


def cmd_late_notices(args: argparse.Namespace) -> None:
    from datetime import timedelta

    from gateway.status import late_notices

    with _sessions(args)() as session:
        rows = late_notices(session, utcnow() - timedelta(days=args.days))
    print(table(rows, ["utility", "planned works announced", "announced late (< 10 working days)"]))


def cmd_dlq(args: argparse.Namespace) -> None:
    sessions = _sessions(args)
    if args.action == "list":
        with sessions() as session:
            rows = dlq.list_letters(session, state=args.state, provider=args.provider)
            print(table([(d.id, d.provider, d.stream, d.item_key, d.error_class, d.state, d.attempts,
                          d.last_seen_at.strftime("%Y-%m-%d %H:%M"), d.message[:70]) for d in rows],
                        ["id", "utility", "stream", "item", "class", "state", "attempts", "last seen", "message"]))
        return
    if args.id is None:
        raise GatewayError(f"dlq {args.action} needs a dead-letter id")
    with sessions.begin() as session:
        if args.action == "show":
            print(json.dumps(dlq.describe(session, args.id), ensure_ascii=False, indent=2, default=str))
        elif args.action == "retry":
            print(dlq.retry(session, args.id))
        elif args.action == "discard":
            print(dlq.discard(session, args.id, reason=args.reason))


def cmd_registry(_args: argparse.Namespace) -> None:
    from gateway.registry import load_registry

    rows = [(m.name, m.title, m.protocol, m.conn_id, m.schedule, ", ".join(m.steps))
            for m in load_registry().values()]
    print(table(rows, ["name", "utility", "protocol", "connection", "schedule", "steps"]))


def cmd_export(args: argparse.Namespace) -> None:
    from gateway import export_views

    with _sessions(args)() as session:
        sys.stdout.write(export_views.export(session, args.what, args.format, now=utcnow()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="contact-centre database URL (default: $GATEWAY_DATABASE_URL)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="create or upgrade the database")
    db.add_argument("action", choices=["upgrade"])
    db.add_argument("--revision", default="head")
    db.set_defaults(func=cmd_db)

    sub.add_parser("load", help="load executors and classifier names from the data files").set_defaults(func=cmd_load)

    demo = sub.add_parser("demo-data", help="register realistic demo requests")
    demo.add_argument("--count", type=int, default=200)
    demo.add_argument("--seed", type=int, default=1520)
    demo.set_defaults(func=cmd_demo_data)

    sync = sub.add_parser("sync", help="run one connector's sync once, outside Airflow")
    sync.add_argument("connector")
    sync.add_argument("--step", action="append", help="only this step (repeatable)")
    sync.set_defaults(func=cmd_sync)

    sub.add_parser("status", help="pending, failed and dead-lettered work").set_defaults(func=cmd_status)

    dead = sub.add_parser("dlq", help="dead letters: list, show, retry, discard")
    dead.add_argument("action", choices=["list", "show", "retry", "discard"])
    dead.add_argument("id", nargs="?", type=int)
    dead.add_argument("--state", default="open", help="list: open | retried | discarded | all")
    dead.add_argument("--provider")
    dead.add_argument("--reason", default="discarded by an operator")
    dead.set_defaults(func=cmd_dlq)

    late = sub.add_parser("late-notices", help="planned works announced late, per utility (weekly report)")
    late.add_argument("--days", type=int, default=7)
    late.set_defaults(func=cmd_late_notices)

    sub.add_parser("registry", help="the registered connectors").set_defaults(func=cmd_registry)

    export = sub.add_parser("export", help="announcements and requests for the city site and chat bots")
    export.add_argument("what", choices=["announcements", "requests-open311", "services-open311"])
    export.add_argument("--format", choices=["json", "ical"], default="json")
    export.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except (GatewayError, KeyError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
