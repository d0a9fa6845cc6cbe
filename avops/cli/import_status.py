"""``avops import-status EXPORT_ID``: what became of the label files a partner handed back.

Calls ``GET /api/label-exports/{id}/imports`` like the other Metadata API commands (``--url`` /
``AVOPS_API_URL``, ``--key`` / ``AVOPS_API_KEY``). Exits 1 when a file was rejected or failed,
so scripts can wait for a partner's round and stop on bad labels.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from avops.cli import app
from avops.cli.api_session import EXIT_FAILED, print_json
from avops.cli.metadata import DEFAULT_URL, AsJson, Key, Url, _call

__all__ = ["import_status"]

_BAD = frozenset({"rejected", "failed"})


@app.command("import-status")
def import_status(
    export_id: Annotated[str, typer.Argument(metavar="EXPORT_ID", help="A labeling export id.")],
    *,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Each label file of an export with its status, errors and LABELED datastreams."""
    answer = _call(url, key, f"/label-exports/{export_id}/imports")
    if as_json:
        print_json(answer)
    else:
        console = Console()
        table = Table("file", "status", "format", "errors", "datastreams", "checked at")
        for item in answer["items"]:
            table.add_row(
                item["file"],
                item["status"],
                item.get("format") or "",
                str(item.get("error_count", 0)),
                "\n".join(item.get("datastream_ids", [])),
                item.get("checked_at") or "",
            )
        console.print(table)
        for item in answer["items"]:
            for error in item.get("errors", []):
                console.print(error, markup=False, highlight=False)
            hidden = item.get("error_count", 0) - len(item.get("errors", []))
            if hidden > 0:
                console.print(f"{item['file']}: ... and {hidden} more errors", markup=False)
        if not answer["items"]:
            console.print(f"export {export_id}: no label files yet")
        if answer.get("truncated"):
            console.print("(more label files than listed)")
    if any(item["status"] in _BAD for item in answer["items"]):
        raise typer.Exit(EXIT_FAILED)
