"""``avops scenes`` and ``avops frames``: scene and frame search through the Metadata API.

Same conventions as ``avops/cli/metadata.py`` (``--url`` / ``AVOPS_API_URL``, ``--key`` /
``AVOPS_API_KEY``, ``--json``); ``scenes`` reads the scenes tables behind ``GET /api/scenes``,
``frames`` the frame index behind ``GET /api/frames``; both filter by labels
(``--labeled/--unlabeled``, ``--label``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from avops.cli import app
from avops.cli.metadata import (
    DEFAULT_URL,
    AsJson,
    Continuation,
    Key,
    Limit,
    Url,
    _call,
    _print_page,
    _window_and_page,
)

__all__ = ["frames", "scenes"]

Since = Annotated[str | None, typer.Option("--from", help="At or after (ISO 8601, with zone).")]
Until = Annotated[str | None, typer.Option("--to", help="At or before (ISO 8601, with zone).")]
Labeled = Annotated[
    bool | None,
    typer.Option(
        "--labeled/--unlabeled", help="Only with labels / only without (default: either)."
    ),
]
Label = Annotated[str | None, typer.Option("--label", help="Only with a label of this category.")]


def _labeled(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


@app.command()
def scenes(
    *,
    scene_type: Annotated[
        str | None, typer.Option("--type", help="Scene type, e.g. hard_brake.")
    ] = None,
    vehicle: Annotated[str | None, typer.Option(help="Only this vehicle id.")] = None,
    measurement: Annotated[str | None, typer.Option(help="Only this measurement id.")] = None,
    labeled: Labeled = None,
    label: Label = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    continuation: Continuation = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Search scenes by start time."""
    params = {
        "type": scene_type,
        "vehicle": vehicle,
        "measurement": measurement,
        "labeled": _labeled(labeled),
        "label": label,
        **_window_and_page(since, until, limit, continuation),
    }
    _print_page(
        _call(url, key, "/scenes", params),
        as_json=as_json,
        columns=("type", "start", "end", "confidence", "vehicle", "measurement", "id"),
        row=lambda item: [
            item["type"],
            item["start"],
            item["end"],
            f"{item['confidence']:.2f}",
            item["vehicle_id"],
            item["measurement_id"],
            item["id"],
        ],
    )


@app.command()
def frames(
    *,
    vehicle: Annotated[str | None, typer.Option(help="Only this vehicle id.")] = None,
    object_class: Annotated[
        str | None, typer.Option("--object", help="Object class in view, e.g. pedestrian.")
    ] = None,
    scene_type: Annotated[
        str | None, typer.Option("--scene-type", help="Only frames inside such a scene.")
    ] = None,
    labeled: Labeled = None,
    label: Label = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    continuation: Continuation = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Search reference frames in the frame index by time."""
    params = {
        "vehicle": vehicle,
        "object": object_class,
        "scene_type": scene_type,
        "labeled": _labeled(labeled),
        "label": label,
        **_window_and_page(since, until, limit, continuation),
    }
    _print_page(
        _call(url, key, "/frames", params),
        as_json=as_json,
        columns=("time", "vehicle", "frame", "objects", "scenes", "labels", "measurement"),
        row=lambda item: [
            item["time"],
            item["vehicle_id"],
            str(item["frame"]),
            ", ".join(item["object_classes"]),
            ", ".join(item["scene_types"]),
            ", ".join(item.get("label_categories") or []),
            item["measurement_id"],
        ],
    )
