"""``avops export-labels``: start a labeling export through the API, optionally wait for it.

Same conventions as the other API commands (``--url`` / ``AVOPS_API_URL``, ``--key`` /
``AVOPS_API_KEY``, ``--json``). Needs a write-role key. Prints the export id and, once the
package is complete (``--wait``, following the run on ``GET /api/runs/{id}``), the export's view
with the partner's two links: the package (read + list) and the labels container (create +
write).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from avops.cli import app
from avops.cli.api_session import EXIT_FAILED, api_session, print_json
from avops.cli.metadata import DEFAULT_URL, AsJson, Key, Url, WaitTimeout
from avops.client import ApiClient

__all__ = ["build_request", "export_labels"]


def build_request(
    *,
    scene_type: str | None,
    object_class: str | None,
    vehicle: str | None,
    since: str | None,
    until: str | None,
    frames: list[str],
    sensors: list[str],
    every_nth: int,
    min_interval_ms: int,
    partner: str,
    point_clouds: bool,
    expires_in_hours: int | None,
    categories: list[str] | None = None,
) -> dict[str, Any]:
    """The ``POST /api/label-exports`` body of the command's options."""
    selection: dict[str, Any]
    if frames:
        refs = []
        for text in frames:
            measurement_id, _, time_ns = text.rpartition(":")
            if not measurement_id or not time_ns.isdigit():
                raise typer.BadParameter(
                    f"{text!r}: use MEASUREMENT_ID:TIME_NS", param_hint="--frame"
                )
            refs.append({"measurement_id": measurement_id, "time_ns": int(time_ns)})
        selection = {"frames": refs}
    elif scene_type and not object_class:
        selection = {"scene_type": scene_type, "vehicle": vehicle, "from": since, "to": until}
    else:
        search = {
            "vehicle": vehicle,
            "object": object_class,
            "scene_type": scene_type,
            "from": since,
            "to": until,
        }
        selection = {"frames": search}
    body: dict[str, Any] = {
        "selection": _without_none(selection),
        "sensors": [name for item in sensors for name in item.split(",") if name],
        "downsampling": {"every_nth": every_nth, "min_interval_ms": min_interval_ms},
        "partner_id": partner,
        "include_point_clouds": point_clouds,
    }
    if expires_in_hours is not None:
        body["expires_in_hours"] = expires_in_hours
    names = [name.strip() for item in categories or [] for name in item.split(",") if name.strip()]
    if names:
        body["categories"] = names
    return body


def _without_none(value: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _without_none(item) if isinstance(item, dict) else item
        for name, item in value.items()
        if item is not None
    }


@app.command("export-labels")
def export_labels(
    *,
    partner: Annotated[str, typer.Option(help="Partner id the export is made for.")],
    sensors: Annotated[
        list[str], typer.Option("--sensors", help="Camera (and lidar) names; repeat or comma-list.")
    ],
    scene_type: Annotated[
        str | None, typer.Option("--scene-type", help="Frames inside scenes of this type.")
    ] = None,
    object_class: Annotated[
        str | None, typer.Option("--object", help="Frames with this object class in view.")
    ] = None,
    vehicle: Annotated[str | None, typer.Option(help="Only this vehicle id.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="At or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="At or before (ISO 8601).")] = None,
    frame: Annotated[
        list[str] | None,
        typer.Option("--frame", help="Explicit frame MEASUREMENT_ID:TIME_NS (repeatable)."),
    ] = None,
    every_nth: Annotated[int, typer.Option(help="Keep every n-th frame per measurement.")] = 1,
    min_interval_ms: Annotated[
        int, typer.Option(help="Kept frames at least this far apart per measurement.")
    ] = 0,
    point_clouds: Annotated[
        bool, typer.Option("--point-clouds", help="Export the named lidars too.")
    ] = False,
    expires_in_hours: Annotated[
        int | None, typer.Option(help="Lifetime of the partner links (default: setting).")
    ] = None,
    categories: Annotated[
        list[str] | None,
        typer.Option(
            "--categories",
            help="Object categories to label; repeat or comma-list "
            "(default: config/labeling-taxonomy.json). Pre-label classes are added.",
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the package, show progress.")
    ] = False,
    timeout_s: WaitTimeout = 1800.0,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Export frames for labeling: a COCO + OpenLABEL package and partner links."""
    if not (scene_type or object_class or vehicle or since or until or frame):
        raise typer.BadParameter(
            "select frames: --scene-type, --object, --vehicle, --from/--to or --frame"
        )
    body = build_request(
        scene_type=scene_type,
        object_class=object_class,
        vehicle=vehicle,
        since=since,
        until=until,
        frames=frame or [],
        sensors=sensors,
        every_nth=every_nth,
        min_interval_ms=min_interval_ms,
        partner=partner,
        point_clouds=point_clouds,
        expires_in_hours=expires_in_hours,
        categories=categories,
    )
    with api_session(url, key) as api:
        started = api.post("/label-exports", body)
        export_id = started["export_id"]
        if not as_json:
            typer.echo(f"export {export_id} started (links expire {started['expires_at']})")
        view = started
        if wait:
            view = _wait(api, started, timeout_s=timeout_s, quiet=as_json)
    if as_json:
        print_json(view)
    elif wait:
        _print_links(view)
    if wait and view.get("status") != "completed":
        raise typer.Exit(EXIT_FAILED)


def _wait(api: ApiClient, started: dict[str, Any], *, timeout_s: float, quiet: bool) -> Any:
    """Follow the run until it finished, showing its progress; then the export's view."""
    shown: list[tuple[Any, ...]] = []

    def show(status: dict[str, Any]) -> None:
        custom = status.get("custom_status")
        progress = custom if isinstance(custom, dict) else {}
        line = (status["runtime_status"], progress.get("stage"), progress.get("copied"))
        if quiet or (shown and shown[-1] == line):
            return
        shown.append(line)
        typer.echo(
            f"{status['runtime_status']}: {progress.get('stage') or '-'} "
            f"{progress.get('copied') or 0}/{progress.get('items') or '?'} items"
        )

    api.follow_run(started["status_url"], timeout_s=timeout_s, on_status=show)
    return api.get(started["export_url"])


def _print_links(view: dict[str, Any]) -> None:
    typer.echo(f"export {view['export_id']}: {view['status']}")
    if view.get("reason"):
        typer.echo(f"reason: {view['reason']}")
    links = view.get("links")
    if links:
        typer.echo(f"package (read, list): {links['package']}")
        typer.echo(f"labels (write only):  {links['labels']}")
        typer.echo(f"expires: {links['expires_at']}")
