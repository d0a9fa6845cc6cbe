"""The labeling package contract shared by export (writes it) and import (validates against it).

A package lives in the export's own container of the ``share`` zone
(``dataops.storage.export_zones``)::

    package.json     PackageManifest: every item with its vehicle, measurement, datastreams,
                     source file and time
    coco.json        COCO: one image per item (image id = item id), categories, pre-labels
    openlabel.json   ASAM OpenLABEL 1.0 (vcd): one frame per selected reference frame, one
                     stream per sensor; an item is (frame, stream)
    images/<sensor>/<item id>.<ext>
    pointclouds/<sensor>/<item id>.parquet   (only when point clouds were asked for)

Partners write label files (``*.json``, COCO or OpenLABEL, told apart by content) into the
export's container of the ``labeled`` zone; the import writes ``<name>._report.json`` next to
each and ignores files whose name ends in ``_report.json`` or starts with ``_``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "COCO_FILE",
    "LABELS_SCHEMA",
    "OPENLABEL_FILE",
    "PACKAGE_MANIFEST",
    "PackageItem",
    "PackageManifest",
    "is_label_upload",
    "report_path_for",
]

PACKAGE_MANIFEST = "package.json"
COCO_FILE = "coco.json"
OPENLABEL_FILE = "openlabel.json"
REPORT_SUFFIX = "._report.json"


class PackageItem(BaseModel):
    """One image (or point cloud) handed to the partner, traceable back to its recording."""

    model_config = ConfigDict(extra="forbid")

    item_id: Annotated[int, Field(ge=1, description="COCO image id; unique in the package.")]
    openlabel_frame: Annotated[int, Field(ge=0, description="OpenLABEL frame id.")]
    sensor: Annotated[str, Field(description="Sensor name = OpenLABEL stream name.")]
    kind: Literal["image", "pointcloud"] = "image"
    file_name: Annotated[str, Field(description="Path inside the package container.")]
    width: int | None = Field(default=None, ge=1, description="Pixels (images only).")
    height: int | None = Field(default=None, ge=1, description="Pixels (images only).")
    vehicle_id: str
    measurement_id: str
    frames_datastream_id: Annotated[str, Field(description="SCENES datastream (frame index).")]
    frame: Annotated[int, Field(ge=0, description="Reference frame number in the frame index.")]
    time_ns: Annotated[int, Field(description="Reference frame time, ns since the epoch (UTC).")]
    source_datastream_id: Annotated[str, Field(description="EXTRACTED datastream of the file.")]
    source_path: Annotated[str, Field(description="The file in the extracted zone.")]
    raw_datastream_id: Annotated[str | None, Field(description="RAW datastream.")] = None
    source_file: Annotated[
        str | None, Field(description="The recording (bag, MCAP, ...) in the raw zone.")
    ] = None
    export_datastream_id: Annotated[
        str, Field(description="The LABEL_EXPORT datastream of the item's measurement.")
    ]


class PackageManifest(BaseModel):
    """``package.json``: what was exported, for whom, and every item's origin."""

    model_config = ConfigDict(extra="forbid")

    format_version: Literal[1] = 1
    export_id: str
    partner_id: str
    created_at: datetime
    selection: dict[str, object] = Field(description="The request's selection, as given.")
    sensors: list[str]
    categories: list[str] = Field(description="COCO category names, id = index + 1.")
    items: list[PackageItem]


def is_label_upload(name: str) -> bool:
    """A blob in a labeled container that the import should validate."""
    base = name.rsplit("/", 1)[-1]
    return name.endswith(".json") and not name.endswith("_report.json") and not base.startswith("_")


def report_path_for(name: str) -> str:
    """``labels/coco.json`` -> ``labels/coco._report.json``."""
    return name[: -len(".json")] + REPORT_SUFFIX


# One row per label of a LABELED datastream: a Delta table in the curated zone whose prefix is
# the datastream's ``stats["labels_table"]`` (written with dataops.frames.delta).
# Frame search joins it to the frame index on (measurement_id, time_ns).
LABELS_SCHEMA = pa.schema(
    [
        ("vehicle_id", pa.string()),
        ("measurement_id", pa.string()),
        ("export_id", pa.string()),
        ("labeled_datastream_id", pa.string()),
        ("frames_datastream_id", pa.string()),
        ("frame", pa.int64()),
        ("time_ns", pa.int64()),
        ("sensor", pa.string()),
        ("item_id", pa.int64()),
        ("label_id", pa.string()),
        ("category", pa.string()),
        # Pixels, COCO convention: top-left x, y, width, height (null for non-box labels).
        ("bbox_x", pa.float64()),
        ("bbox_y", pa.float64()),
        ("bbox_w", pa.float64()),
        ("bbox_h", pa.float64()),
        ("attributes_json", pa.string()),
    ]
)
