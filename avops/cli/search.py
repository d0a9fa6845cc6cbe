"""``avops measurements``, ``avops scenes`` and ``avops frames``: searches through the Metadata API.

Same conventions as ``avops/cli/metadata.py`` (``--url`` / ``AVOPS_API_URL``, ``--key`` /
``AVOPS_API_KEY``, ``--json``); ``measurements`` searches the store behind
``GET /api/measurements``, ``scenes`` reads the scenes tables behind ``GET /api/scenes``,
``frames`` the frame index behind ``GET /api/frames``; scenes and frames filter by labels
(``--labeled/--unlabeled``, ``--label``). Each is one table-driven :func:`search_command`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from avops.cli.search_command import SearchFilter, search_command

__all__ = ["frames", "measurements", "scenes"]


def _labeled(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


def _option(help_text: str, *names: str) -> object:
    return Annotated[str | None, typer.Option(*names, help=help_text)]


VEHICLE = SearchFilter("vehicle", "vehicle", _option("Only this vehicle id."))
LABEL_FILTERS = (
    SearchFilter(
        "labeled",
        "labeled",
        Annotated[
            bool | None,
            typer.Option(
                "--labeled/--unlabeled", help="Only with labels / only without (default: either)."
            ),
        ],
        to_query=_labeled,
    ),
    SearchFilter("label", "label", _option("Only with a label of this category.", "--label")),
)
TIME_WINDOW = (
    SearchFilter("since", "from", _option("At or after (ISO 8601, with zone).", "--from")),
    SearchFilter("until", "to", _option("At or before (ISO 8601, with zone).", "--to")),
)

measurements = search_command(
    "measurements",
    path="/measurements",
    doc="Search measurements, newest recording first.",
    filters=(
        VEHICLE,
        SearchFilter("tag", "tag", _option("Only measurements with this tag.")),
        SearchFilter("state", "state", _option("REGISTERED, INGESTED or FAILED.")),
        SearchFilter(
            "since", "from", _option("Recorded at or after (ISO 8601, with zone).", "--from")
        ),
        SearchFilter(
            "until", "to", _option("Recorded at or before (ISO 8601, with zone).", "--to")
        ),
    ),
    columns=("id", "vehicle", "recording start", "end", "state", "tags", "files"),
    row=lambda item: [
        item["id"],
        item["vehicle_id"],
        item["recording_start"],
        item["recording_end"],
        item["state"],
        ", ".join(item.get("tags", [])),
        str(item.get("file_count", len(item.get("files", [])))),
    ],
)

scenes = search_command(
    "scenes",
    path="/scenes",
    doc="Search scenes by start time.",
    filters=(
        SearchFilter("scene_type", "type", _option("Scene type, e.g. hard_brake.", "--type")),
        VEHICLE,
        SearchFilter("measurement", "measurement", _option("Only this measurement id.")),
        *LABEL_FILTERS,
        *TIME_WINDOW,
    ),
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

frames = search_command(
    "frames",
    path="/frames",
    doc="Search reference frames in the frame index by time.",
    filters=(
        VEHICLE,
        SearchFilter(
            "object_class", "object", _option("Object class in view, e.g. pedestrian.", "--object")
        ),
        SearchFilter(
            "scene_type",
            "scene_type",
            _option("Only frames inside such a scene.", "--scene-type"),
        ),
        *LABEL_FILTERS,
        *TIME_WINDOW,
    ),
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
