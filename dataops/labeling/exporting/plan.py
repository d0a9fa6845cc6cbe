"""Selected frames -> package items: which file of which sensor, where it goes, its pre-labels.

Per measurement the plan reads the frame index's SYNCHRONIZED table once (only the columns of
the asked sensors and of the detections sensor), each asked camera's ``index.parquet`` once
(size, frame id, frame store row) and each detections table once; so memory is bounded by the
largest of those tables plus the plan itself (capped by ``label_export_max_items``).

Where a camera frame is: ``paths[sensor]`` of the frame index names the frame file, or, with
the Parquet frame store, the part file; the frame is then row ``<sensor>.row`` of that part
(the synchronized table keeps the frame store row there, see dataops.synchronization.steps).
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from dataops.errors import InvalidInputError
from dataops.extraction.plan import find_recordings
from dataops.labeling.exporting.selection import SelectedFrame
from dataops.labeling.package import PackageItem
from dataops.labeling.taxonomy import export_categories
from dataops.models import Datastream
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones
from dataops.store import MetadataStore, all_measurement_files

__all__ = [
    "EXPORT_NAMESPACE",
    "ExportPlan",
    "PlanItem",
    "PlannedDatastream",
    "PreLabel",
    "build_plan",
    "export_datastream_id",
    "match_sensor",
]

# Fixed forever: LABEL_EXPORT datastream ids must stay stable across retried activities.
EXPORT_NAMESPACE = uuid.UUID("5d0b8a4e-27c1-5f3a-8e6d-1b9c4f7a2e60")
SYNCHRONIZED_NAME = "synchronized.parquet"
CAMERA_INDEX = "index.parquet"
PATH_SUFFIX = ".path"
REFERENCE = "reference"
KIND_DIRS = {"camera": "images", "lidar": "pointclouds"}
_MAX_TABLE_BYTES = 256 * 1024 * 1024


def export_datastream_id(export_id: str, measurement_id: str) -> str:
    """The LABEL_EXPORT datastream of one measurement in one export."""
    return str(uuid.uuid5(EXPORT_NAMESPACE, f"{export_id}|{measurement_id}"))


class PreLabel(BaseModel):
    """A detection of the recording itself, offered to the partner as a starting point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str
    bbox: list[float] = Field(description="COCO pixels: top-left x, y, width, height.")
    score: float | None = None
    track_id: str | None = None


class PlanItem(PackageItem):
    """A package item plus what copying and the label files need and package.json omits."""

    sensor_key: str = Field(description="Frame index sensor key, e.g. 'rec/camera/front'.")
    part_row: int | None = Field(default=None, description="Row in a Parquet frame store part.")
    sample_time_ns: int = Field(description="Time of the matched sample of this sensor.")
    prelabels: list[PreLabel] = Field(default_factory=list)


class PlannedDatastream(BaseModel):
    """The LABEL_EXPORT datastream of one measurement and what it is made from."""

    model_config = ConfigDict(extra="forbid")

    datastream_id: str
    measurement_id: str
    sources: list[str]


class ExportPlan(BaseModel):
    """``_plan.json``: everything later activities need, so they only pass ranges around."""

    model_config = ConfigDict(extra="forbid")

    export_id: str
    partner_id: str
    created_at: datetime
    selection: dict[str, object]
    sensors: list[str]
    categories: list[str]
    frames: int
    items: list[PlanItem]
    datastreams: list[PlannedDatastream]


def match_sensor(name: str, keys: Sequence[str]) -> str | None:
    """The first (sorted) key equal to ``name`` or ending in ``/name``; globs allowed."""
    for key in sorted(keys):
        if key == name or key.endswith("/" + name) or fnmatchcase(key, name):
            return key
    return None


@dataclass(frozen=True)
class _CameraFrame:
    width: int | None
    height: int | None
    frame_id: str
    ext: str


@dataclass
class _Measurement:
    """What the plan read once for one measurement."""

    vehicle_id: str
    frames_ds: Datastream
    extracted: Datastream
    raw_id: str | None
    recordings: dict[str, str]  # recording slug -> raw zone path
    synchronized: pa.Table
    keys: list[str]


def _column_key(key: str, reference: str) -> str:
    return REFERENCE if key == reference else key


def _load_measurement(
    zones: BlobZones, store: MetadataStore, frame: SelectedFrame, sensors: list[str]
) -> _Measurement:
    frames_ds = store.get_datastream(frame.frames_datastream_id)
    synchronized_ds = store.get_datastream(frames_ds.sources[0])
    extracted = store.get_datastream(synchronized_ds.sources[0])
    raw_id = extracted.sources[0] if extracted.sources else None
    recordings: dict[str, str] = {}
    if raw_id is not None:
        raw = store.get_datastream(raw_id)
        # The measurement lists its files relative to the RAW datastream's prefix.
        files = list(all_measurement_files(store, frame.measurement_id))
        recordings = {r.slug: join_path(raw.path, r.path) for r in find_recordings(files)}
    path = join_path(synchronized_ds.path, SYNCHRONIZED_NAME)
    parquet = pq.ParquetFile(
        pa.BufferReader(zones.read_bytes(Zone.CURATED, path, max_bytes=_MAX_TABLE_BYTES).data)
    )
    metadata = parquet.schema_arrow.metadata or {}
    reference = metadata.get(b"avops.reference", REFERENCE.encode()).decode()
    names = parquet.schema_arrow.names
    keys = [
        reference if n == f"{REFERENCE}{PATH_SUFFIX}" else n[: -len(PATH_SUFFIX)]
        for n in names
        if n.endswith(PATH_SUFFIX)
    ]
    wanted = {"time_ns"}
    for key in {k for k in (match_sensor(s, keys) for s in sensors) if k} | set(keys):
        column = _column_key(key, reference)
        wanted |= {f"{column}{PATH_SUFFIX}", f"{column}.row", f"{column}.time_ns"}
    table = parquet.read(columns=[n for n in names if n in wanted])
    table = table.replace_schema_metadata({b"avops.reference": reference.encode()})
    return _Measurement(
        vehicle_id=frame.vehicle_id,
        frames_ds=frames_ds,
        extracted=extracted,
        raw_id=raw_id,
        recordings=recordings,
        synchronized=table,
        keys=keys,
    )


def _camera_index(
    zones: BlobZones, extracted: Datastream, key: str
) -> dict[tuple[str, int | None], _CameraFrame]:
    """(zone path of the frame or part, part row) -> size, frame id and file extension."""
    camera_dir = join_path(extracted.path, key)
    blob = zones.read_bytes(
        Zone.EXTRACTED, join_path(camera_dir, CAMERA_INDEX), max_bytes=_MAX_TABLE_BYTES
    )
    parquet = pq.ParquetFile(pa.BufferReader(blob.data))
    meta = {k.decode(): v.decode() for k, v in (parquet.schema_arrow.metadata or {}).items()}
    image_format = meta.get("image_format", "")
    names = set(parquet.schema_arrow.names)
    columns = [
        c for c in ("path", "width", "height", "frame_id", "encoding", "part_row") if c in names
    ]
    rows = parquet.read(columns=columns).to_pylist()
    parent = posixpath.dirname(camera_dir)  # index paths are relative to <recording>/camera
    out: dict[tuple[str, int | None], _CameraFrame] = {}
    for row in rows:
        path = join_path(parent, str(row["path"]))
        part_row = row.get("part_row")
        if part_row is None:
            ext = posixpath.splitext(path)[1].lstrip(".") or "bin"
        else:
            ext = _stored_ext(image_format, str(row.get("encoding") or ""))
        out[(path, part_row)] = _CameraFrame(
            width=row.get("width") or None,
            height=row.get("height") or None,
            frame_id=str(row.get("frame_id") or ""),
            ext=ext,
        )
    return out


def _stored_ext(image_format: str, encoding: str) -> str:
    if image_format in ("jpeg", "png"):
        return "jpg" if image_format == "jpeg" else "png"
    return "png" if "png" in encoding.lower() else "jpg"


def _detections(
    zones: BlobZones, path: str, cache: dict[str, list[tuple[str, list[PreLabel]]]]
) -> list[tuple[str, list[PreLabel]]]:
    """Per row of a detections table: (header frame id, boxes)."""
    if path in cache:
        return cache[path]
    blob = zones.read_bytes(Zone.EXTRACTED, path, max_bytes=_MAX_TABLE_BYTES)
    parquet = pq.ParquetFile(pa.BufferReader(blob.data))
    names = set(parquet.schema_arrow.names)
    if "detections" not in names:
        cache[path] = []
        return []
    columns = ["detections"] + (["header.frame_id"] if "header.frame_id" in names else [])
    table = parquet.read(columns=columns)
    frame_ids = (
        table.column("header.frame_id").to_pylist()
        if "header.frame_id" in columns
        else [""] * table.num_rows
    )
    rows = [
        (str(frame_id or ""), [b for b in (_box(d) for d in detections or []) if b])
        for frame_id, detections in zip(
            frame_ids, table.column("detections").to_pylist(), strict=True
        )
    ]
    cache[path] = rows
    return rows


def _box(detection: dict[str, Any] | None) -> PreLabel | None:
    """A vision_msgs Detection2D as a COCO box with its best hypothesis; None without a box."""
    if not detection:
        return None
    bbox = detection.get("bbox") or {}
    center = (bbox.get("center") or {}).get("position") or bbox.get("center") or {}
    width, height = bbox.get("size_x"), bbox.get("size_y")
    if width is None or height is None or center.get("x") is None or center.get("y") is None:
        return None
    hypotheses = [r.get("hypothesis") or r for r in detection.get("results") or [] if r is not None]
    hypotheses = [h for h in hypotheses if h.get("class_id")]
    best = max(hypotheses, key=lambda h: h.get("score") or 0.0, default=None)
    x, y = float(center["x"]) - float(width) / 2, float(center["y"]) - float(height) / 2
    return PreLabel(
        category=str(best["class_id"]) if best else "unknown",
        bbox=[round(x, 3), round(y, 3), round(float(width), 3), round(float(height), 3)],
        score=float(best["score"]) if best and best.get("score") is not None else None,
        track_id=str(detection.get("id") or "") or None,
    )


def build_plan(
    zones: BlobZones,
    store: MetadataStore,
    frames: list[SelectedFrame],
    *,
    export_id: str,
    partner_id: str,
    created_at: datetime,
    selection: dict[str, object],
    sensors: list[str],
    include_point_clouds: bool,
    detections_sensor: str,
    max_items: int,
    categories: list[str],
) -> ExportPlan:
    """Items in (measurement, time, sensor) order with ids 1..n; frames numbered 0..m-1.

    ``categories`` are the export's requested categories; pre-label classes are added.
    """
    items: list[PlanItem] = []
    datastreams: dict[str, PlannedDatastream] = {}
    prelabel_classes: set[str] = set()
    loaded: _Measurement | None = None
    cameras: dict[str, dict[tuple[str, int | None], _CameraFrame]] = {}
    detection_rows: dict[str, list[tuple[str, list[PreLabel]]]] = {}
    openlabel_frame = -1
    for frame in frames:
        if loaded is None or loaded.frames_ds.measurement_id != frame.measurement_id:
            loaded = _load_measurement(zones, store, frame, sensors)
            cameras, detection_rows = {}, {}
        planned = datastreams.setdefault(
            frame.measurement_id,
            PlannedDatastream(
                datastream_id=export_datastream_id(export_id, frame.measurement_id),
                measurement_id=frame.measurement_id,
                sources=[],
            ),
        )
        if frame.frames_datastream_id not in planned.sources:
            planned.sources.append(frame.frames_datastream_id)
        prelabels = _frame_prelabels(zones, loaded, frame, detections_sensor, detection_rows)
        frame_items = _frame_items(
            zones,
            loaded,
            frame,
            sensors=sensors,
            include_point_clouds=include_point_clouds,
            cameras=cameras,
            prelabels=prelabels,
        )
        if not frame_items:
            continue
        openlabel_frame += 1
        for item in frame_items:
            item.item_id = len(items) + 1
            item.openlabel_frame = openlabel_frame
            item.export_datastream_id = planned.datastream_id
            item.file_name = f"{KIND_DIRS[item.kind_dir]}/{item.sensor}/{item.item_id}.{item.ext}"
            items.append(item.to_plan_item())
            prelabel_classes |= {p.category for p in item.prelabels}
            if len(items) > max_items:
                raise InvalidInputError(
                    f"the export has more than {max_items} items (frames x sensors): narrow "
                    "the selection, downsample or ask for fewer sensors",
                    field="selection",
                )
    return ExportPlan(
        export_id=export_id,
        partner_id=partner_id,
        created_at=created_at,
        selection=selection,
        sensors=sensors,
        categories=export_categories(categories, prelabel_classes),
        frames=openlabel_frame + 1,
        items=items,
        datastreams=[d for d in datastreams.values() if d.sources],
    )


def _frame_prelabels(
    zones: BlobZones,
    loaded: _Measurement,
    frame: SelectedFrame,
    detections_sensor: str,
    cache: dict[str, list[tuple[str, list[PreLabel]]]],
) -> list[tuple[str, str, list[PreLabel]]]:
    """(recording, detections frame id, boxes) of every detections sensor matched to the frame."""
    table = loaded.synchronized
    out: list[tuple[str, str, list[PreLabel]]] = []
    for key in loaded.keys:
        if not fnmatchcase(key, detections_sensor):
            continue
        path = table.column(f"{key}{PATH_SUFFIX}")[frame.frame].as_py()
        row = table.column(f"{key}.row")[frame.frame].as_py()
        if path is None or row is None:
            continue
        rows = _detections(zones, str(path), cache)
        if 0 <= int(row) < len(rows):
            frame_id, boxes = rows[int(row)]
            # Keyed by recording too: two recordings may name different cameras alike (the
            # sample's ROS 1 and ROS 2 cameras are both "camera_front" at other resolutions).
            out.append((key.split("/")[0], frame_id, boxes))
    return out


@dataclass
class _DraftItem:
    """An item before its id and file name are known."""

    fields: dict[str, Any]
    sensor: str
    kind_dir: str
    ext: str
    prelabels: list[PreLabel]
    item_id: int = 0
    openlabel_frame: int = 0
    export_datastream_id: str = ""
    file_name: str = ""

    def to_plan_item(self) -> PlanItem:
        return PlanItem(
            **self.fields,
            item_id=self.item_id,
            openlabel_frame=self.openlabel_frame,
            export_datastream_id=self.export_datastream_id,
            file_name=self.file_name,
            sensor=self.sensor,
            prelabels=self.prelabels,
        )


def _frame_items(
    zones: BlobZones,
    loaded: _Measurement,
    frame: SelectedFrame,
    *,
    sensors: list[str],
    include_point_clouds: bool,
    cameras: dict[str, dict[tuple[str, int | None], _CameraFrame]],
    prelabels: list[tuple[str, str, list[PreLabel]]],
) -> list[_DraftItem]:
    table = loaded.synchronized
    reference = (table.schema.metadata or {}).get(b"avops.reference", b"").decode()
    drafts: list[_DraftItem] = []
    for position, name in enumerate(sensors):
        key = match_sensor(name, loaded.keys)
        if key is None:
            continue  # this measurement has no such sensor: nothing to export for it
        kind = key.split("/")[1] if key.count("/") >= 2 else ""
        if kind not in KIND_DIRS:
            raise InvalidInputError(
                f"sensor {key!r} is a {kind or 'unknown'} sensor; only cameras and lidars "
                "can be exported",
                field=f"sensors[{position}]",
            )
        if kind == "lidar" and not include_point_clouds:
            raise InvalidInputError(
                f"sensor {key!r} is a lidar: set include_point_clouds to export it",
                field=f"sensors[{position}]",
            )
        column = _column_key(key, reference)
        path = table.column(f"{column}{PATH_SUFFIX}")[frame.frame].as_py()
        if path is None:
            continue  # no sample of this sensor matched the frame
        row = table.column(f"{column}.row")[frame.frame].as_py()
        sample_time = (
            frame.time_ns
            if column == REFERENCE
            else table.column(f"{column}.time_ns")[frame.frame].as_py()
        )
        recording = key.split("/")[0]
        fields: dict[str, Any] = {
            "kind": "image" if kind == "camera" else "pointcloud",
            "vehicle_id": frame.vehicle_id,
            "measurement_id": frame.measurement_id,
            "frames_datastream_id": frame.frames_datastream_id,
            "frame": frame.frame,
            "time_ns": frame.time_ns,
            "source_datastream_id": loaded.extracted.id,
            "source_path": str(path),
            "raw_datastream_id": loaded.raw_id,
            "source_file": loaded.recordings.get(recording),
            "sensor_key": key,
            "sample_time_ns": int(sample_time),
        }
        boxes: list[PreLabel] = []
        ext = "parquet"
        if kind == "camera":
            if key not in cameras:
                cameras[key] = _camera_index(zones, loaded.extracted, key)
            part_row = int(row) if str(path).endswith(".parquet") and row is not None else None
            info = cameras[key].get((str(path), part_row))
            if info is None:
                raise InvalidInputError(
                    f"frame {path} (row {part_row}) is not in the camera index",
                    source=f"extracted/{join_path(loaded.extracted.path, key, CAMERA_INDEX)}",
                )
            fields.update(width=info.width, height=info.height, part_row=part_row)
            ext = info.ext
            # Boxes are in the pixels of the camera the detections name (header frame id) in
            # the same recording; without a frame id, in the reference camera's pixels.
            boxes = [
                box
                for source, frame_id, found in prelabels
                if source == recording
                and (frame_id == info.frame_id or (not frame_id and column == REFERENCE))
                for box in found
            ]
        drafts.append(
            _DraftItem(
                fields=fields,
                sensor=key.rsplit("/", 1)[-1],
                kind_dir=kind,
                ext=ext,
                prelabels=boxes,
            )
        )
    return drafts
