"""``avops erase --vehicle ID | --measurement ID [--dry-run] [--yes]``: erase a target's data.

It calls ``POST /api/vehicles/{id}/erase`` or ``POST /api/measurements/{id}/erase`` (erase
role: pass an erase key with ``--key`` / ``AVOPS_API_KEY``). ``--dry-run`` prints what would
go and deletes nothing; otherwise it shows the dry run's totals, asks for confirmation (unless
``--yes``) and follows the ``erase`` run until it finished. See docs/erasure.md.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from avops.cli import app
from avops.cli.api_session import EXIT_FAILED, EXIT_UNUSABLE, api_session, print_json
from avops.cli.metadata import DEFAULT_URL, Key, Url

__all__ = ["erase"]


def _route(vehicle: str | None, measurement: str | None) -> str:
    if (vehicle is None) == (measurement is None):
        typer.echo("error: give exactly one of --vehicle and --measurement", err=True)
        raise typer.Exit(EXIT_UNUSABLE)
    if vehicle is not None:
        return f"/vehicles/{quote(vehicle, safe='')}/erase"
    return f"/measurements/{quote(str(measurement), safe='')}/erase"


def _totals(preview: dict[str, Any]) -> str:
    blobs = preview["blobs"]
    zones = ", ".join(f"{zone} {len(paths)}" for zone, paths in sorted(blobs.items()))
    return (
        f"{len(preview['measurements'])} measurement(s), {len(preview['datastreams'])} "
        f"datastream(s), blobs: {zones or 'none'}, {len(preview['runs'])} run(s), "
        f"{len(preview['batch_jobs'])} batch job(s)"
    )


@app.command("erase")
def erase(
    *,
    vehicle: Annotated[str | None, typer.Option(help="Erase this vehicle's data.")] = None,
    measurement: Annotated[
        str | None, typer.Option(help="Erase this measurement and what was made from it.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would go; delete nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    timeout_s: Annotated[float, typer.Option(help="How long to follow the run.")] = 3600.0,
    url: Url = DEFAULT_URL,
    key: Key = None,
) -> None:
    """Erase every byte of a vehicle's or a measurement's data (erase role)."""
    route = _route(vehicle, measurement)
    with api_session(url, key) as api:
        preview = api.request("POST", route, params={"dry_run": "true"})
        if dry_run:
            print_json(preview["preview"])
            return
        typer.echo(f"would erase: {_totals(preview['preview'])}")
        if not yes and not typer.confirm("Erase all of it, for good?", default=False):
            typer.echo("nothing erased")
            raise typer.Exit(EXIT_FAILED)
        started = api.post(route)
        typer.echo(f"erasure: {started['erasure_id']} ({started['state']})")
        if started.get("status_url") is None:
            return  # already erased: nothing was started
        status = api.follow_run(started["status_url"], timeout_s=timeout_s)
    typer.echo(f"runtime status: {status['runtime_status']}")
    if status["runtime_status"] != "Completed":
        typer.echo(f"reason: {status.get('custom_status')}", err=True)
        raise typer.Exit(EXIT_FAILED)
    print_json(status.get("output"))
