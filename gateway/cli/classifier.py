"""Classifier changes as data: what a change moves (`classifier diff`) and carrying a utility's mapping
across it by item (`mapping upgrade`)."""

from __future__ import annotations

import difflib
from typing import Annotated

import typer

from gateway.classifier import default_classifier
from gateway.cli.app import app, console, print_table
from gateway.errors import ConfigError

classifier_app = typer.Typer(help="The versioned classifier: versions and what a change moves.",
                             no_args_is_help=True)
mapping_app = typer.Typer(help="Utilities' mapping files (mappings/<name>.yaml).", no_args_is_help=True)
app.add_typer(classifier_app, name="classifier")
app.add_typer(mapping_app, name="mapping")


@classifier_app.command("versions")
def versions() -> None:
    """Every classifier version the data files define, oldest first, and the file of each."""
    classifier = default_classifier()
    print_table([(v.version, v.based_on or "", v.adopted_on, len(v.items), v.source.name if v.source else "",
                  v.title) for v in classifier.versions],
                ["version", "based on", "adopted", "items", "file", "title"])


@classifier_app.command()
def diff(
    old: Annotated[str, typer.Argument(help="the version before, e.g. 2020-339")],
    new: Annotated[str | None, typer.Argument(help="the version after (default: the current one)")] = None,
) -> None:
    """What moved from OLD to NEW, item by item, and which mapping entries that touches."""
    from gateway.mapping_upgrade import touched_entries
    from gateway.registry import load_registry

    classifier = default_classifier()
    change = classifier.diff(old, new or classifier.current.version)
    rows: list[tuple[object, ...]] = []
    rows += [("new", "", i.code, i.key, i.name_uk, i.executor) for i in change.added]
    rows += [("moved", a.code, b.code, b.key, b.name_uk, b.executor) for a, b in change.moved]
    rows += [("changed", a.code, b.code, b.key, f"«{a.name_uk}» {a.urgency} → «{b.name_uk}» {b.urgency}",
              f"{a.executor} → {b.executor}" if a.executor != b.executor else b.executor) for a, b in change.changed]
    rows += [("withdrawn", i.code, "", i.key, i.name_uk, i.executor) for i in change.removed]
    if change.empty:
        console().print(f"classifier {change.old} → {change.new}: nothing moved")
        return
    print_table(rows, ["what", change.old, change.new, "item", "name", "executor"],
                title=f"classifier {change.old} → {change.new}")
    touched = touched_entries(change, classifier, list(load_registry().values()))
    if touched:
        print_table([(t.provider, t.what, t.detail, t.path.name) for t in touched],
                    ["utility", "what", "entry", "mapping file"], title="mapping entries it touches")
        console().print("carry each mapping across with `gateway mapping upgrade NAME` (by item, never by code)")
    else:
        console().print("no mapping entry is touched")


@mapping_app.command()
def upgrade(
    name: Annotated[str, typer.Argument(help="the utility (connector name)")],
    to: Annotated[str | None, typer.Option(help="target classifier version (default: the current one)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the change, write nothing")] = False,
) -> None:
    """Carry a utility's mapping to another classifier version: each entry keeps its item and gets the
    item's new code; comments and layout stay. New items the utility serves are listed, not guessed."""
    from gateway.mapping_upgrade import plan_upgrade, write_upgrade
    from gateway.registry import load_registry

    registry = load_registry()
    if name not in registry:
        raise ConfigError(f"no connector {name!r} (known: {', '.join(sorted(registry))})")
    manifest = registry[name]
    classifier = default_classifier()
    plan = plan_upgrade(manifest.mapping_file, classifier, executor=manifest.executor, to_version=to)
    out = console()
    if plan.moved:
        print_table([(old, new, item.key, item.name_uk) for old, new, item in plan.moved],
                    [plan.old_version, plan.new_version, "item", "name"],
                    title=f"{manifest.mapping_file.name}: entries that move")
    if not plan.changed:
        out.print(f"{manifest.mapping_file.name} is up to date with classifier {plan.new_version}")
    elif dry_run:
        out.print("".join(difflib.unified_diff(
            manifest.mapping_file.read_text(encoding="utf-8").splitlines(keepends=True),
            plan.text.splitlines(keepends=True), fromfile=str(manifest.mapping_file), tofile="upgraded")),
            markup=False, highlight=False)
    else:
        write_upgrade(plan, classifier)
        versions = (plan.new_version if plan.old_version == plan.new_version
                    else f"{plan.old_version} → {plan.new_version}")
        out.print(f"{manifest.mapping_file}: classifier {versions}, {len(plan.moved)} entries renumbered, "
                  f"{plan.guarded} now name their item", markup=False)
    for item in plan.unmapped:
        out.print(f"served by {name} but not mapped: {item.code} {item.key} «{item.name_uk}» — add an entry; "
                  "until then its requests go to dead letters", markup=False)
