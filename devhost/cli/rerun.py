"""``avops rerun-step ID``: run the step that consumes a datastream again, into a new datastream.

It calls ``POST /api/datastreams/{id}/rerun`` (write role) on the app, devhost locally or the
Function App in Azure; ``--url`` / ``AVOPS_API_URL`` and ``--key`` / ``AVOPS_API_KEY`` as for
the other API commands. Typical use: change the scene thresholds, then rerun from the ENRICHED
datastream for a second SCENES datastream. ``--wait`` follows the run on the app's own status
route, ``GET /api/runs/{id}`` (read role), until it finished.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import httpx
import typer

from devhost.cli import app
from devhost.cli.connection import resolve_api
from devhost.cli.metadata import DEFAULT_URL, ApiCallError, Key, Url
from devhost.cli.runs_api import answer, follow_run

__all__ = ["rerun_step"]


@app.command("rerun-step")
def rerun_step(
    datastream_id: Annotated[
        str, typer.Argument(metavar="DATASTREAM_ID", help="The source datastream of the step.")
    ],
    *,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run until it finished (exit 1 unless ok).")
    ] = False,
    timeout_s: Annotated[float, typer.Option(help="How long --wait waits.")] = 1800.0,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Rerun the step that consumes DATASTREAM_ID; print its instance and new datastream id."""
    url, key = resolve_api(url, key)
    headers = {"x-functions-key": key} if key else {}
    target = f"{url.rstrip('/')}/api/datastreams/{quote(datastream_id, safe='')}/rerun"
    with httpx.Client(headers=headers, timeout=30) as http:
        try:
            started = answer(http.post(target))
            typer.echo(f"instance: {started['instance_id']}")
            typer.echo(f"new datastream: {started.get('datastream_id') or '?'}")
            typer.echo(f"status: {started['status_url']}")
            if not wait:
                return
            status = follow_run(http, started["status_url"], timeout_s=timeout_s)
        except ApiCallError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        except httpx.HTTPError as err:
            typer.echo(f"error: cannot reach {url}: {err}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"runtime status: {status['runtime_status']}")
    if status["runtime_status"] != "Completed":
        raise typer.Exit(1)
