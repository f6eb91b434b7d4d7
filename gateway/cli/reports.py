"""``gateway report`` (the department's reports for any period) and ``gateway deadlines`` (rules,
the monitor, overdue requests, an extension)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from gateway.cli.app import app, console, print_table, sessions
from gateway.db import utcnow
from gateway.errors import ConfigError

deadlines_app = typer.Typer(help="Request deadlines: rules, the daily monitor, overdue requests, extensions.",
                            no_args_is_help=True)
app.add_typer(deadlines_app, name="deadlines")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def report(
    from_: Annotated[str | None, typer.Option("--from", help="first day, Kyiv time (YYYY-MM-DD)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="last day, included (YYYY-MM-DD)")] = None,
    monthly: Annotated[bool, typer.Option("--monthly", help="the monthly report (default period: last month)")]
    = False,
    out: Annotated[Path | None, typer.Option(help="reports folder (default: $GATEWAY_REPORTS_DIR or ./reports)")]
    = None,
    send: Annotated[bool, typer.Option("--send", help="e-mail the letters through the SMTP connection")] = False,
) -> None:
    """Per-executor report for a period (default: last Monday–Sunday week): HTML, CSV, notices, letters."""
    from gateway.reports import periods
    from gateway.reports.build import write_report
    from gateway.reports.delivery import smtp_conn_id, smtp_from_environment

    now = utcnow()
    first, last = _day(from_, "--from"), _day(to, "--to")
    kind = periods.MONTHLY if monthly else periods.WEEKLY
    if first is None and last is None:
        period = periods.previous_month(now) if monthly else periods.previous_week(now)
    elif first is None or last is None:
        raise ConfigError("give both --from and --to, or neither (then the last whole week or month)")
    else:
        try:
            period = periods.days(first, last, kind if (monthly or (last - first).days == 6) else periods.CUSTOM)
        except ValueError as exc:
            raise ConfigError(f"--from/--to: {exc}") from None
    smtp = None
    if send:
        smtp = smtp_from_environment()
        if smtp is None:
            raise ConfigError(f"--send: no SMTP connection: set AIRFLOW_CONN_{smtp_conn_id().upper()}")
    with sessions()() as session:
        files = write_report(session, period, now, out, smtp=smtp)
    rows = [(f.executor_id, f.received, f.done_on_time, f.done_late, f.open, f.open_overdue,
             "" if f.median_hours is None else f"{f.median_hours:.1f}", f.rework, f.repeat,
             "" if f.on_time_share is None else f"{f.on_time_share * 100:.0f} %")
            for f in files.figures.executors]
    print_table(rows, ["executor", "received", "on time", "late", "open", "overdue", "median h", "rework",
                       "repeat", "on time %"], title=f"{period.kind} {period.label_uk()}")
    console().print(f"report: {files.html}\ncsv: {files.executors_csv}\nnotices: {files.html.parent / 'notices'}\n"
                    f"letters: {len(files.outbox)} in {files.html.parent / 'outbox'}"
                    + (f", {files.sent} sent through SMTP" if smtp else ""), markup=False)


@deadlines_app.command("rules")
def rules() -> None:
    """The deadline of every classifier item (from gateway/data/deadlines.yaml)."""
    from gateway.classifier import default_classifier
    from gateway.deadlines import default_rules

    rules = default_rules()
    print_table([(i.code, i.name_uk, i.urgency, rules.rule(i.key, i.urgency).describe_uk())
                 for i in default_classifier().current.items], ["code", "item", "urgency", "deadline"])


@deadlines_app.command("check")
def check(scope: Annotated[str, typer.Option(help="city (daily) or urgent (hourly: emergencies, SOS)")] = "city"
          ) -> None:
    """Run the deadline monitor once: mark newly overdue requests, record a snapshot."""
    from gateway.reports.overdue import SCOPES, run_monitor

    if scope not in SCOPES:
        raise ConfigError(f"--scope: {scope!r} is not one of {', '.join(SCOPES)}")
    with sessions().begin() as session:
        result = run_monitor(session, utcnow(), scope)
    console().print(f"{result.scope}: open {result.open_requests}, overdue {result.overdue}, "
                    f"newly overdue {result.newly_overdue} (snapshot {result.snapshot_id})")


@deadlines_app.command("overdue")
def overdue(executor: Annotated[str | None, typer.Option(help="only this executor id")] = None) -> None:
    """Open requests past their (extended) deadline, now."""
    from gateway.reports.figures import compute
    from gateway.reports.periods import days, kyiv_day
    from gateway.reports.render import kyiv

    now = utcnow()
    with sessions()() as session:
        figures = compute(session, days(kyiv_day(now), kyiv_day(now)), now)
    rows = [(f.executor_id, o.number, o.item_code, o.address, kyiv(o.deadline), f"{o.hours_overdue:.1f}", o.status)
            for f in figures.executors if executor in (None, f.executor_id) for o in f.overdue]
    print_table(rows, ["executor", "request", "item", "address", "deadline (Kyiv)", "hours over", "status"])


@deadlines_app.command("extend")
def extend(
    number: Annotated[str, typer.Argument(help="request number, e.g. 1520-2026-000123")],
    until: Annotated[str, typer.Option(help="new deadline, Kyiv time: 'YYYY-MM-DD HH:MM'")],
    by: Annotated[str, typer.Option(help="who grants it, e.g. operator:ivanenko")],
    reason: Annotated[str, typer.Option(help="why (kept in the request's history)")],
) -> None:
    """Extend a request's deadline; a deadline is extended once."""
    from gateway.deadlines import extend_deadline
    from gateway.models import Request
    from gateway.reports.periods import KYIV

    try:
        new_deadline = datetime.fromisoformat(until).replace(tzinfo=KYIV)
    except ValueError:
        raise ConfigError(f"--until: {until!r} is not a time (YYYY-MM-DD HH:MM, Kyiv)") from None
    with sessions().begin() as session:
        request = session.scalars(select(Request).where(Request.number == number)).one_or_none()
        if request is None:
            raise ConfigError(f"no request numbered {number!r}")
        extend_deadline(session, request, new_deadline, by=by, reason=reason, at=utcnow())
    console().print(f"{number}: deadline extended to {until} (Kyiv) by {by}", markup=False)


@deadlines_app.command("apply-rules")
def apply_rules_command() -> None:
    """Recompute every request's deadline from the rules (extensions are kept)."""
    from gateway.deadlines import apply_rules

    with sessions().begin() as session:
        changed = apply_rules(session)
    console().print(f"deadlines recomputed: {changed} changed")
