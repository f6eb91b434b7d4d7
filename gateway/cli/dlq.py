"""Dead letters: what a person must look at, and the way back into the sync."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from gateway import dlq
from gateway.cli.app import app, console, print_table, sessions
from gateway.cli.progress import progress_bar
from gateway.errors import GatewayError

dlq_app = typer.Typer(help="Dead letters: list, show, retry, discard.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


class LetterState(StrEnum):
    open = "open"
    retried = "retried"
    discarded = "discarded"
    all = "all"


@dlq_app.command("list")
def list_letters(
    state: Annotated[LetterState, typer.Option(help="which dead letters")] = LetterState.open,
    provider: Annotated[str | None, typer.Option(help="only this utility")] = None,
) -> None:
    """The dead letters, newest last."""
    with sessions()() as session:
        rows = dlq.list_letters(session, state=state.value, provider=provider)
        print_table([(d.id, d.provider, d.stream, d.item_key, d.error_class, d.state, d.attempts,
                      d.last_seen_at.strftime("%Y-%m-%d %H:%M"), d.message[:70]) for d in rows],
                    ["id", "utility", "stream", "item", "class", "state", "attempts", "last seen", "message"])


@dlq_app.command()
def show(letter_id: Annotated[int, typer.Argument(help="dead-letter id")]) -> None:
    """One dead letter with its payload (resident data masked) as JSON."""
    with sessions().begin() as session:
        console().print_json(json.dumps(dlq.describe(session, letter_id), ensure_ascii=False, default=str))


@dlq_app.command()
def retry(
    letter_id: Annotated[int | None, typer.Argument(help="dead-letter id")] = None,
    all_open: Annotated[bool, typer.Option("--all", help="every open dead letter of --provider")] = False,
    provider: Annotated[str | None, typer.Option(help="the utility, with --all")] = None,
) -> None:
    """Put a dead letter back into the sync (idempotent: a second retry changes nothing); with
    ``--all --provider X``, every open one of that utility, e.g. once its mapping has the missing item."""
    if (letter_id is None) == (not all_open) or (all_open and not provider):
        raise GatewayError("give a dead-letter id, or --all with --provider NAME")
    if letter_id is not None:
        with sessions().begin() as session:
            console().print(dlq.retry(session, letter_id), markup=False)
        return
    factory = sessions()
    with factory() as session:
        ids = [d.id for d in dlq.list_letters(session, state="open", provider=provider)]
    queued, refused = 0, []
    with progress_bar(f"replaying {provider}", len(ids)) as advance:
        for one in ids:
            try:
                with factory.begin() as session:  # one letter, one transaction: a refusal keeps the rest
                    dlq.retry(session, one)
                queued += 1
            except GatewayError as exc:
                refused.append(str(exc))
            advance(1)
    out = console()
    out.print(f"{provider}: {queued} of {len(ids)} open dead letters queued again", markup=False)
    for reason in refused:
        out.print(f"  left open: {reason}", markup=False)


@dlq_app.command()
def discard(
    letter_id: Annotated[int, typer.Argument(help="dead-letter id")],
    reason: Annotated[str, typer.Option(help="why, for the record")] = "discarded by an operator",
) -> None:
    """Close a dead letter without replaying it; the reason is kept."""
    with sessions().begin() as session:
        console().print(dlq.discard(session, letter_id, reason=reason), markup=False)
