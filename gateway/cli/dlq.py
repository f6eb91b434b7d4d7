"""Dead letters: what a person must look at, and the way back into the sync."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from gateway import dlq
from gateway.cli.app import app, console, print_table, sessions

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
def retry(letter_id: Annotated[int, typer.Argument(help="dead-letter id")]) -> None:
    """Put a dead letter back into the sync (idempotent: a second retry changes nothing)."""
    with sessions().begin() as session:
        console().print(dlq.retry(session, letter_id), markup=False)


@dlq_app.command()
def discard(
    letter_id: Annotated[int, typer.Argument(help="dead-letter id")],
    reason: Annotated[str, typer.Option(help="why, for the record")] = "discarded by an operator",
) -> None:
    """Close a dead letter without replaying it; the reason is kept."""
    with sessions().begin() as session:
        console().print(dlq.discard(session, letter_id, reason=reason), markup=False)
