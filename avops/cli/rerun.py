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

import typer

from avops.cli import app
from avops.cli.api_session import EXIT_FAILED, api_session
from avops.cli.metadata import DEFAULT_URL, Key, Url, WaitTimeout

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
    timeout_s: WaitTimeout = 1800.0,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Rerun the step that consumes DATASTREAM_ID; print its instance and new datastream id."""
    with api_session(url, key) as api:
        started = api.post(f"/datastreams/{quote(datastream_id, safe='')}/rerun")
        typer.echo(f"instance: {started['instance_id']}")
        typer.echo(f"new datastream: {started.get('datastream_id') or '?'}")
        typer.echo(f"status: {started['status_url']}")
        if not wait:
            return
        status = api.follow_run(started["status_url"], timeout_s=timeout_s)
    typer.echo(f"runtime status: {status['runtime_status']}")
    if status["runtime_status"] != "Completed":
        raise typer.Exit(EXIT_FAILED)
