"""``avops rerun-step ID``: run the step that consumes a datastream again, into a new datastream.

It calls ``POST /api/datastreams/{id}/rerun`` (write role) on the app, devhost locally or the
Function App in Azure; ``--url`` / ``AVOPS_API_URL`` and ``--key`` / ``AVOPS_API_KEY`` as for
the other API commands. Typical use: change the scene thresholds, then rerun from the ENRICHED
datastream for a second SCENES datastream.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import httpx
import typer

from devhost.cli import app
from devhost.cli.connection import resolve_api
from devhost.cli.metadata import DEFAULT_URL, ApiCallError, Key, Url

__all__ = ["rerun_step"]


@app.command("rerun-step")
def rerun_step(
    datastream_id: Annotated[
        str, typer.Argument(metavar="DATASTREAM_ID", help="The source datastream of the step.")
    ],
    *,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Rerun the step that consumes DATASTREAM_ID; print its instance and new datastream id."""
    url, key = resolve_api(url, key)
    headers = {"x-functions-key": key} if key else {}
    target = f"{url.rstrip('/')}/api/datastreams/{quote(datastream_id, safe='')}/rerun"
    try:
        response = httpx.post(target, headers=headers, timeout=30)
    except httpx.HTTPError as err:
        typer.echo(f"error: cannot reach {url}: {err}", err=True)
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:500]}
        error = ApiCallError(response.status_code, problem if isinstance(problem, dict) else {})
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
    started = response.json()
    typer.echo(f"instance: {started['id']}")
    typer.echo(f"new datastream: {response.headers.get('X-AVOps-Datastream-Id', '?')}")
    typer.echo(f"status: {started['statusQueryGetUri']}")
