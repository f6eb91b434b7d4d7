"""The root of the ``gateway`` command: global options, the shared console and the error contract.

Every command module adds its commands to ``app`` (or a sub-app). ``main`` is what the console
script and the tests call: it returns 0 on success and 2 with a one-line message on any error the
gateway raises on purpose, a usage error, or a database that is missing or not yet migrated.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError

from gateway.errors import GatewayError

app = typer.Typer(
    name="gateway",
    help="Keeps the Kryvyi Rih contact centre 1520 and the utilities' job systems in step.\n\n"
    "The database comes from GATEWAY_DATABASE_URL (or --database); a utility's connection from its "
    "AIRFLOW_CONN_<CONN_ID> variable, the same one Airflow reads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@dataclass
class Options:
    database: str | None = None


OPTIONS = Options()


@app.callback()
def _root(
    database: Annotated[str | None, typer.Option(help="contact-centre database URL (default: $GATEWAY_DATABASE_URL)")]
    = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log at DEBUG")] = False,
) -> None:
    OPTIONS.database = database
    root = logging.getLogger()
    if root.handlers:  # already configured (inside Airflow, or a test): only honour --verbose
        if verbose:
            root.setLevel(logging.DEBUG)
        return
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def database() -> str | None:
    """The URL given with --database, else None (then $GATEWAY_DATABASE_URL is read)."""
    return OPTIONS.database


def sessions():
    from gateway.db import make_engine, session_factory

    return session_factory(make_engine(database()))


def console(stderr: bool = False) -> Console:
    """A console on the current stdout; wide and colourless when it is not a terminal (Airflow logs,
    pipes), so that table cells are never folded into several lines."""
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty() and not os.environ.get("NO_COLOR")
    return Console(file=stream, width=None if tty else 200, no_color=not tty, highlight=False, soft_wrap=not tty)


def table(rows: Sequence[Sequence[object]], headers: Sequence[str], title: str | None = None) -> Table:
    """A rich table; its first column starts each line, so a row is easy to grep in a log."""
    view = Table(*headers, title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    for row in rows:
        view.add_row(*("" if cell is None else str(cell) for cell in row))
    return view


def print_table(rows: Sequence[Sequence[object]], headers: Sequence[str], title: str | None = None) -> None:
    console().print(table(rows, headers, title))


def _missing_database(exc: Exception) -> str | None:
    text = str(exc).lower()
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return "the contact-centre database is not initialised: run `gateway db upgrade`"
    if "unable to open database file" in text or ("database" in text and "does not exist" in text):
        return "the contact-centre database cannot be opened: check GATEWAY_DATABASE_URL, then `gateway db upgrade`"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    OPTIONS.database = None
    try:
        result = app(args=args, prog_name="gateway", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, unknown command, wrong value
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        return 2
    except (OperationalError, ProgrammingError) as exc:
        message = _missing_database(exc)
        if message is None:
            raise
        console(stderr=True).print(f"gateway: {message}")
        return 2
    except (GatewayError, KeyError) as exc:
        console(stderr=True).print(f"gateway: {exc}", markup=False)
        return 2
    return result if isinstance(result, int) else 0
