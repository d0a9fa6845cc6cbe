"""``avops rerun-step ID``: run the step that consumes a datastream again, into a new datastream.

It calls ``POST /api/datastreams/{id}/rerun`` (write role) on the app, devhost locally or the
Function App in Azure; ``--url`` / ``AVOPS_API_URL`` and ``--key`` / ``AVOPS_API_KEY`` as for
the other API commands. Typical use: change the scene thresholds, then rerun from the ENRICHED
datastream for a second SCENES datastream. ``--wait`` follows the run on the app's own status
route, ``GET /api/runs/{id}`` (read role), until it finished.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from devhost.cli import app
from devhost.cli.connection import resolve_api
from devhost.cli.metadata import DEFAULT_URL, ApiCallError, Key, Url

__all__ = ["rerun_step"]

# Durable's runtime statuses after which a run changes no more.
FINISHED = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:500]}
        raise ApiCallError(response.status_code, problem if isinstance(problem, dict) else {})
    return response.json()


def _wait(http: httpx.Client, status_url: str, timeout_s: float) -> dict[str, Any]:
    """The run's status once finished, or as it is when ``timeout_s`` ran out."""
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = _answer(http.get(status_url))
        if status["runtime_status"] in FINISHED or time.monotonic() > deadline:
            return status
        time.sleep(1.0)


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
            started = _answer(http.post(target))
            typer.echo(f"instance: {started['instance_id']}")
            typer.echo(f"new datastream: {started.get('datastream_id') or '?'}")
            typer.echo(f"status: {started['status_url']}")
            if not wait:
                return
            status = _wait(http, started["status_url"], timeout_s)
        except ApiCallError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        except httpx.HTTPError as err:
            typer.echo(f"error: cannot reach {url}: {err}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"runtime status: {status['runtime_status']}")
    if status["runtime_status"] != "Completed":
        raise typer.Exit(1)
