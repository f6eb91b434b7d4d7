"""Onboarding a utility: scaffold its files, check them against the classifier, ping its system
(logic in gateway/onboarding/; docs/onboarding.md walks through all three)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.app import app, console, print_table
from gateway.errors import ConfigError

connector_app = typer.Typer(help="Onboard a utility: scaffold, check and ping its connector.", no_args_is_help=True)
app.add_typer(connector_app, name="connector")


class Protocol(StrEnum):
    rest = "rest"
    soap = "soap"


def _root(root: Path | None) -> Path:
    from gateway.registry import PROJECT_ROOT

    return (root or PROJECT_ROOT).resolve()


RootOption = Annotated[Path | None, typer.Option(help="project tree to work in (default: this checkout)")]


@connector_app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="the connector's name: lower case, a Python package name")],
    protocol: Annotated[Protocol, typer.Option(help="the utility's protocol")] = Protocol.rest,
    executor: Annotated[str | None, typer.Option(help="its id in gateway/data/executors.yaml (default: NAME)")]
    = None,
    title: Annotated[str | None, typer.Option(help="its name for people (default: the executor's)")] = None,
    root: RootOption = None,
) -> None:
    """Write manifest, mapping, connector, simulator, contract stub and tests for a new utility."""
    from gateway.onboarding.scaffold import scaffold

    made = scaffold(name, protocol.value, root=_root(root), executor=executor, title=title)
    out = console()
    for path in made.files:
        out.print(f"created {path.relative_to(made.root)}", markup=False)
    out.print("next:", markup=False)
    for number, step in enumerate(made.next_steps(), 1):
        out.print(f"  {number}. {step}", markup=False)


@connector_app.command("check")
def check(name: Annotated[str, typer.Argument(help="the connector's name")], root: RootOption = None) -> None:
    """Validate manifest, executor, connector, mapping and contract document; list served items left
    unmapped. Exit 0 when all is well, 1 otherwise."""
    from gateway.onboarding.check import check_connector

    report = check_connector(name, _root(root))
    out = console()
    if report.findings:
        print_table([(f.file, f.entry, f.problem) for f in report.findings], ["file", "entry", "problem"],
                    title=f"{name}: problems")
    if report.unmapped:
        print_table([(i.code, i.key, i.name_uk) for i in report.unmapped], ["code", "item", "name"],
                    title=f"{name}: served but not mapped (their requests go to dead letters)")
    if report.ok:
        out.print(f"{name}: manifest, mapping and contract document are valid; every served item is mapped",
                  markup=False)
        return
    out.print(f"{name}: {len(report.findings)} problems, {len(report.unmapped)} served items unmapped",
              markup=False)
    raise typer.Exit(1)


@connector_app.command("ping")
def ping(name: Annotated[str, typer.Argument(help="the connector's name")], root: RootOption = None) -> None:
    """Reach the utility through its Connection (AIRFLOW_CONN_<CONN_ID>) with its credentials, in one
    cheap authenticated call. Exit 0 when it answers, 1 otherwise; never prints a secret."""
    from gateway.connections import from_environment
    from gateway.onboarding.ping import ping as ping_utility
    from gateway.registry import load_registry

    registry = load_registry(_root(root) / "connectors")
    if name not in registry:
        raise ConfigError(f"no connector {name!r} (known: {', '.join(sorted(registry))})")
    manifest = registry[name]
    result = ping_utility(manifest, from_environment(manifest.conn_id))
    console().print(result.sentence, markup=False)
    if not result.ok:
        raise typer.Exit(1)
