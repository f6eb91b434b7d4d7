"""The ``gateway`` command: what is not Airflow's job (typer; one module per group of commands).

A command module registers itself on ``gateway.cli.app.app`` when imported; the imports below are
the whole list of command groups.
"""

from __future__ import annotations

import sys

from gateway.cli import classifier, connector, core, dlq, ops, reports, serve  # noqa: F401  (registers the commands)
from gateway.cli.app import app, main, print_table, table

__all__ = ["app", "main", "print_table", "table"]

if __name__ == "__main__":
    sys.exit(main())
