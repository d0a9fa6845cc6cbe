"""``avops stranded``: landing prefixes that no active ingest run works on.

It reads ``GET /api/landing/stranded`` (read role), the rows the reconciler logs and counts
every pass: uploads older than the reconcile threshold without an active run, whatever the
reason. Exit codes follow the CLI's scheme (``avops.cli.api_session``); with ``--check`` a
non-empty listing is a failed check (exit 1), for scripts and probes.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from avops.cli import app
from avops.cli.api_session import EXIT_FAILED, api_session, print_json
from avops.cli.metadata import DEFAULT_URL, AsJson, Key, Url

__all__ = ["stranded"]


@app.command()
def stranded(
    *,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when anything is stranded.")
    ] = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """List uploads stranded in landing: older than the threshold, no active run."""
    with api_session(url, key) as api:
        listing = api.get("/landing/stranded")
    if as_json:
        print_json(listing)
    else:
        table = Table("upload prefix", "reason", "files", "bytes", "last written", "last run")
        for row in listing["items"]:
            run = f"{row['runtime_status']} {row['instance_id']}" if row["instance_id"] else "-"
            table.add_row(
                row["upload_prefix"] or "(root)",
                row["reason"],
                str(row["files"]),
                str(row["bytes"]),
                row["last_modified"],
                run,
            )
        console = Console()
        console.print(table)
        console.print(
            f"{len(listing['items'])} stranded (older than {listing['threshold_minutes']} min)"
        )
    if check and listing["items"]:
        raise typer.Exit(EXIT_FAILED)
