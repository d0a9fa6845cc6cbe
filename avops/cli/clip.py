"""``avops clip SCENE_ID``: one MCAP of a scene's raw data, with a Foxglove link.

It calls ``POST /api/scenes/{id}/clip`` (write role), follows the run on ``GET /api/runs/{id}``
until it finished and prints the clip's read-only link and its open-in-Foxglove link; with
``--out`` it streams the file there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from avops.cli import app
from avops.cli.api_session import EXIT_FAILED, EXIT_UNUSABLE, api_session
from avops.cli.metadata import DEFAULT_URL, Key, Url

__all__ = ["clip"]


def _download(url: str, out: Path) -> int:
    """Stream the clip to ``out`` (a partial file is removed); the bytes written."""
    written = 0
    partial = out.with_name(out.name + ".part")
    try:
        with httpx.stream("GET", url, timeout=60) as response, partial.open("wb") as sink:
            response.raise_for_status()
            for chunk in response.iter_bytes(1 << 20):
                sink.write(chunk)
                written += len(chunk)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return written


@app.command("clip")
def clip(
    scene_id: Annotated[str, typer.Argument(metavar="SCENE_ID", help="The scene to clip.")],
    *,
    out: Annotated[
        Path | None, typer.Option("--out", help="Download the clip to this file.")
    ] = None,
    margin: Annotated[
        float | None,
        typer.Option("--margin", help="Seconds before and after the scene (default: the app's)."),
    ] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="Keep only this topic (repeatable).")
    ] = None,
    timeout_s: Annotated[float, typer.Option(help="How long to wait for the clip.")] = 1800.0,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Clip SCENE_ID's raw data into one MCAP; print its link and Foxglove link."""
    body: dict[str, Any] = {"topics": topic or []}
    if margin is not None:
        body["margin_s"] = margin
    with api_session(url, key) as api:
        started = api.post(f"/scenes/{quote(scene_id, safe='')}/clip", body)
        typer.echo(f"instance: {started['instance_id']}")
        typer.echo(f"clip datastream: {started.get('datastream_id') or '?'}")
        status = api.follow_run(started["status_url"], timeout_s=timeout_s)
    if status["runtime_status"] != "Completed":
        typer.echo(f"runtime status: {status['runtime_status']}", err=True)
        raise typer.Exit(EXIT_FAILED)
    output = status.get("output") or {}
    typer.echo(f"messages: {output.get('messages')}")
    typer.echo(f"url: {output['url']}")
    typer.echo(f"foxglove: {output['foxglove_url']}")
    if out is not None:
        try:
            written = _download(output["url"], out)
        except (httpx.HTTPError, OSError) as err:
            typer.echo(f"error: downloading {out}: {err}", err=True)
            raise typer.Exit(EXIT_UNUSABLE) from None
        typer.echo(f"wrote {out} ({written} bytes)")
