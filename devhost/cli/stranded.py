"""``avops stranded``: landing prefixes that no active ingest run works on.

It reads ``GET /api/landing/stranded`` (read role), the rows the reconciler logs and counts
every pass: uploads older than the reconcile threshold without an active run, whatever the
reason. Exit code 0 when landing holds nothing stranded, 3 when it does (for scripts and
probes), 1 and 2 for API and connection errors as the other commands.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from devhost.cli import app
from devhost.cli.metadata import DEFAULT_URL, AsJson, Key, Url, _call, _print_json

__all__ = ["STRANDED_EXIT", "stranded"]

STRANDED_EXIT = 3


@app.command()
def stranded(*, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False) -> None:
    """List uploads stranded in landing (exit 3 when there are any)."""
    listing = _call(url, key, "/landing/stranded")
    if as_json:
        _print_json(listing)
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
    if listing["items"]:
        raise typer.Exit(STRANDED_EXIT)
