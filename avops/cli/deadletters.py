"""``avops deadletters list|redrive``: the change feed's dead letters, through the app's API.

``list`` reads ``GET /api/deadletters`` and ``redrive ID`` calls
``POST /api/deadletters/{id}/redrive``, both with the write role (pass a write key with
``--key`` / ``AVOPS_API_KEY``; ``avops dev``'s key has it). ``--url`` as for the other API
commands. ``avops deadletters host`` (registered by ``avops.cli.runs``) reads devhost's own
delivery dead letters instead, from its state database. Exit codes follow the CLI's scheme
(``avops.cli.api_session``); a redrive whose steps failed again exits 1.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table

from avops.cli import app
from avops.cli.api_session import EXIT_FAILED, api_session, print_json
from avops.cli.metadata import (
    DEFAULT_URL,
    AsJson,
    Continuation,
    Key,
    Limit,
    Url,
    _call,
    _print_page,
)

__all__ = ["deadletters_app"]

deadletters_app = typer.Typer(
    help="Batches the change-feed consumer gave up on: list them, hand one back.",
    no_args_is_help=True,
)
app.add_typer(deadletters_app, name="deadletters")

_REASON_CHARS = 60


def _documents(item: dict[str, Any]) -> str:
    return ", ".join(f"{d.get('id')} ({d.get('type')} {d.get('state')})" for d in item["documents"])


def _row(item: dict[str, Any]) -> list[str]:
    reason = item["reason"]
    return [
        item["id"],
        item["function"],
        item["time"] or "-",
        str(item["attempts"]),
        reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 1] + "…",
        _documents(item),
    ]


@deadletters_app.command("list")
def list_letters(
    *,
    function: Annotated[str | None, typer.Option(help="Only this consumer function.")] = None,
    measurement: Annotated[
        str | None, typer.Option(help="Only records naming a datastream of this measurement.")
    ] = None,
    redriven: Annotated[
        bool, typer.Option("--redriven", help="The records handed back already, instead.")
    ] = False,
    limit: Limit = 100,
    continuation: Continuation = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """List the change feed's dead letters, newest first (write role)."""
    params = {
        "function": function,
        "measurement": measurement,
        "redriven": "true" if redriven else None,
        "limit": limit,
        "continuation": continuation,
    }
    _print_page(
        _call(url, key, "/deadletters", params),
        as_json=as_json,
        columns=("id", "function", "time", "attempts", "reason", "documents"),
        row=_row,
    )


@deadletters_app.command("redrive")
def redrive(
    letter_id: Annotated[str, typer.Argument(metavar="ID", help="The dead letter's id.")],
    *,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Hand a dead letter's batch back: each datastream's step starts unless it ran (write role)."""
    if not yes and not typer.confirm(
        f"Hand {letter_id} back (the steps its datastreams trigger start now)?", default=False
    ):
        typer.echo("nothing handed back")
        raise typer.Exit(EXIT_FAILED)
    with api_session(url, key) as api:
        answer = api.post(f"/deadletters/{quote(letter_id, safe='')}/redrive")
    if as_json:
        print_json(answer)
    else:
        # One unwrapped line first: what scripts and people look for.
        typer.echo(f"{answer['id']}: {answer['state']}: {answer['message']}")
        table = Table("datastream", "outcome", "detail")
        for outcome in answer["redrive"]["documents"]:
            table.add_row(outcome["datastream_id"] or "-", outcome["outcome"], outcome["detail"])
        Console().print(table)
    if answer["state"] == "failed":
        raise typer.Exit(EXIT_FAILED)
