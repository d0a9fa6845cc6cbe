"""The work of the ``detect_scenes`` orchestration's activities: prepare, run, fail.

Input: a COMPLETED ENRICHED datastream (the change feed starts this step when enrich is done)
and the SYNCHRONIZED datastream it was made from: ``synchronized.parquet`` (one row per
reference frame) and the enriched columns (``is_night``, ``is_raining``, ``object_classes``,
``speed_limit_kph``, ``h3_cell``). Output: a SCENES datastream in the curated zone holding
two Delta tables, ``scenes`` and ``frames`` (the frame index), plus the scenes in the
metadata store.

Idempotent like every activity: the datastream id comes from the orchestrator, scene ids are
``uuid5(datastream id, type, start)``, the store upserts them, the Delta tables are written
whole, and state changes are only made from the state they leave.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataops.derived import DerivedStep, StepOutput, StepRunner, completed_source, summary
from dataops.errors import InvalidInputError
from dataops.frames.delta import upload_delta_table
from dataops.frames.index import FrameScene, build_frame_table
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
    Measurement,
    Scene,
)
from dataops.paths import Zone, join_path
from dataops.scenes import detectors
from dataops.scenes.config import DEFAULT_CONFIG_PATH, SceneConfig, load_scene_config
from dataops.scenes.detectors import BoolArray, Detection, FloatArray, Int64Array
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = [
    "FRAMES_TABLE",
    "SCENES_TABLE",
    "SCENE_NAMESPACE",
    "fail_scene_detection",
    "frame_object_classes",
    "prepare_scene_detection",
    "run_scene_detection",
    "scene_id",
    "scene_table",
]

log = logging.getLogger("avops.scenes")

SCENES_TABLE = "scenes"
FRAMES_TABLE = "frames"
SYNCHRONIZED_NAME = "synchronized.parquet"
ENRICHED_NAME = "enriched.parquet"
SKIPPED_NOT_SYNCHRONIZED = "not_synchronized"
# Fixed forever: scene ids must stay stable across reruns of the same datastream.
SCENE_NAMESPACE = uuid.UUID("0b7f3f8e-52a1-5d7c-9a0e-4c1f6e2d8b93")
_CLASS_COLUMNS = ("detections", "class_id", "label", "class")
ENRICHED_COLUMNS = ("is_night", "is_raining", "object_classes", "speed_limit_kph", "h3_cell")


def scene_id(datastream_id: str, scene_type: str, start_ns: int) -> str:
    """Deterministic scene id: a rerun of the same datastream upserts, never duplicates."""
    return str(uuid.uuid5(SCENE_NAMESPACE, f"{datastream_id}|{scene_type}|{start_ns}"))


# ----------------------------------------------------------------------------- prepare / fail


# Sources: the SYNCHRONIZED datastream, then the ENRICHED one when there is one.
DETECT_SCENES = DerivedStep(step="detect_scenes", output_type=DatastreamType.SCENES, sources=(1, 2))


def _enriched_for(store: MetadataStore, synchronized: Datastream) -> Datastream | None:
    """The newest COMPLETED ENRICHED datastream made from ``synchronized``, if any."""
    candidates = [
        d
        for d in store.list_datastreams(synchronized.measurement_id, DatastreamType.ENRICHED)
        if d.state is DatastreamState.COMPLETED and synchronized.id in d.sources
    ]
    return max(candidates, key=lambda d: (d.created_at, d.id)) if candidates else None


def prepare_scene_detection(
    store: MetadataStore,
    *,
    source_datastream_id: str,
    datastream_id: str,
    instance_id: str,
) -> dict[str, Any]:
    """SCENES datastream PROCESSING in the curated zone.

    The source is the ENRICHED datastream the change feed routes here (or, run by hand, a
    SYNCHRONIZED one, with the newest ENRICHED made from it if any); sources: the SYNCHRONIZED
    id, then the ENRICHED one if used.
    """
    source = completed_source(
        store, source_datastream_id, DatastreamType.ENRICHED, DatastreamType.SYNCHRONIZED
    )
    if source.type is DatastreamType.ENRICHED:
        if not source.sources:
            raise InvalidInputError(f"ENRICHED datastream {source.id} has no source")
        synchronized = store.get_datastream(source.sources[0])
        enriched: Datastream | None = source
    else:
        synchronized, enriched = source, _enriched_for(store, source)
    if synchronized.type is not DatastreamType.SYNCHRONIZED:
        raise InvalidInputError(f"datastream {synchronized.id} is not SYNCHRONIZED")
    opened = DETECT_SCENES.open(
        store,
        measurement_id=synchronized.measurement_id,
        datastream_id=datastream_id,
        instance_id=instance_id,
        sources=[synchronized.id] + ([enriched.id] if enriched is not None else []),
    )
    return DETECT_SCENES.prepared(opened)


fail_scene_detection = DETECT_SCENES.fail
"""SCENES datastream FAILED with ``reason`` (if it exists and is not final)."""


# ----------------------------------------------------------------------------- run


def _detect_scenes(
    zones: BlobZones, store: MetadataStore, datastream: Datastream, config_path: Path
) -> StepOutput:
    datastream_id = datastream.id
    config = load_scene_config(config_path)
    measurement = store.get_measurement(datastream.measurement_id)
    synchronized_ds = store.get_datastream(datastream.sources[0])
    path = join_path(synchronized_ds.path, SYNCHRONIZED_NAME)
    if synchronized_ds.stats.get("skipped"):
        # Logger-synchronized or camera-less: no per-frame table to detect scenes on.
        return StepOutput({"skipped": SKIPPED_NOT_SYNCHRONIZED})
    blob = zones.read_bytes(Zone.CURATED, path, max_bytes=config.max_file_bytes)
    synchronized = pq.read_table(pa.BufferReader(blob.data))
    if synchronized.num_rows == 0:
        return StepOutput({"skipped": SKIPPED_NOT_SYNCHRONIZED})
    times = np.asarray(synchronized.column("time_ns").to_numpy(), dtype=np.int64)
    enriched: dict[str, pa.Array] = {}
    if len(datastream.sources) == 2:
        enriched = _read_enriched(zones, store, datastream.sources[1], times, config)
    classes = _classes(zones, synchronized, enriched, config)
    found = detect_all(times, synchronized, enriched, classes, config)
    scenes = [
        _scene(measurement, datastream_id, kind, detection)
        for kind, detections in found.items()
        for detection in detections
    ]
    store.upsert_scenes(scenes)
    scenes_prefix = join_path(datastream.path, SCENES_TABLE)
    frames_prefix = join_path(datastream.path, FRAMES_TABLE)
    scene_bytes = upload_delta_table(zones, Zone.CURATED, scenes_prefix, scene_table(scenes))
    frames = build_frame_table(
        synchronized,
        vehicle_id=measurement.vehicle_id,
        measurement_id=measurement.id,
        datastream_id=datastream_id,
        object_classes=classes,
        scenes=[
            FrameScene(s.id, s.type, int(s.attributes["start_ns"]), int(s.attributes["end_ns"]))
            for s in scenes
        ],
        enriched=enriched,
    )
    frame_bytes = upload_delta_table(zones, Zone.CURATED, frames_prefix, frames)
    files = [
        FileRecord(
            path=scenes_prefix,
            format="delta",
            size=scene_bytes,
            meta={"kind": "scenes", "rows": len(scenes)},
        ),
        FileRecord(
            path=frames_prefix,
            format="delta",
            size=frame_bytes,
            meta={"kind": "frames", "rows": frames.num_rows},
        ),
    ]
    counts = Counter(scene.type for scene in scenes)
    stats = {
        "frames": frames.num_rows,
        "scenes": len(scenes),
        "types": {kind: counts.get(kind, 0) for kind in found},
        "enriched": len(datastream.sources) == 2,
        "scenes_table": scenes_prefix,
        "frames_table": frames_prefix,
    }
    log.info("detected %d scenes in %d frames of %s", len(scenes), frames.num_rows, measurement.id)
    return StepOutput(stats, files)


def detect_all(
    times: Int64Array,
    synchronized: pa.Table,
    enriched: dict[str, pa.Array],
    classes: list[list[str]],
    config: SceneConfig,
) -> dict[str, list[Detection]]:
    """Every detector whose inputs are there: scene type -> detections (types always listed)."""
    speed = _signal(synchronized, "speed_mps", times.size)
    yaw = _signal(synchronized, "yaw_rate_rps", times.size)
    accel = _signal(synchronized, "accel_long_mps2", times.size)
    wanted = set(config.pedestrian_in_view.classes)
    pedestrians: BoolArray = np.array([bool(wanted & set(c)) for c in classes], dtype=bool)
    found = {
        "hard_brake": detectors.detect_hard_brake(times, accel, speed, config.hard_brake),
        "stop": detectors.detect_stop(times, speed, config.stop),
        "high_speed": detectors.detect_high_speed(times, speed, config.high_speed),
        "turn": detectors.detect_turn(times, yaw, config.turn),
        "lane_change": detectors.detect_lane_change(times, yaw, speed, config.lane_change),
        "pedestrian_in_view": detectors.detect_flag(
            times, pedestrians, config.pedestrian_in_view, object_class="pedestrian"
        ),
    }
    # Night and rain need the enriched table; without it they are not evaluated at all.
    if "is_night" in enriched:
        found["night"] = detectors.detect_flag(times, _flags(enriched["is_night"]), config.night)
    if "is_raining" in enriched:
        found["rain"] = detectors.detect_flag(times, _flags(enriched["is_raining"]), config.rain)
    if "speed_limit_kph" in enriched:
        # Speed limit known: annotate high-speed scenes with it (the threshold stays global).
        limits = np.asarray(
            enriched["speed_limit_kph"].cast(pa.float64()).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
        for detection in found["high_speed"]:
            index = int(np.searchsorted(times, detection.start_ns))
            if not np.isnan(limits[index]):
                detection.attributes["speed_limit_kph"] = float(limits[index])
    return found


def _signal(table: pa.Table, name: str, size: int) -> FloatArray:
    """A float column as float64 with NaN for nulls; all NaN if the column is missing."""
    if name not in table.column_names:
        return np.full(size, np.nan)
    column = table.column(name).cast(pa.float64())
    return np.asarray(pc.fill_null(column, np.nan).to_numpy(), dtype=np.float64)


def _flags(array: pa.Array) -> BoolArray:
    return np.asarray(
        pc.fill_null(array.cast(pa.bool_()), False).to_numpy(zero_copy_only=False), dtype=bool
    )


def _scene(measurement: Measurement, datastream_id: str, kind: str, detection: Detection) -> Scene:
    return Scene(
        id=scene_id(datastream_id, kind, detection.start_ns),
        measurement_id=measurement.id,
        datastream_id=datastream_id,
        vehicle_id=measurement.vehicle_id,
        type=kind,
        start=_utc(detection.start_ns),
        end=_utc(detection.end_ns),
        confidence=detection.confidence,
        # The exact frame times: datetimes keep microseconds only.
        attributes={
            **detection.attributes,
            "start_ns": detection.start_ns,
            "end_ns": detection.end_ns,
        },
    )


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
        microsecond=(ns % 1_000_000_000) // 1000
    )


def scene_table(scenes: list[Scene]) -> pa.Table:
    """The scenes Delta table rows (tests seed search indexes with this same writer)."""
    return pa.table(
        {
            "scene_id": pa.array([s.id for s in scenes], pa.string()),
            "type": pa.array([s.type for s in scenes], pa.string()),
            "vehicle_id": pa.array([s.vehicle_id for s in scenes], pa.string()),
            "measurement_id": pa.array([s.measurement_id for s in scenes], pa.string()),
            "datastream_id": pa.array([s.datastream_id for s in scenes], pa.string()),
            "start_ns": pa.array([s.attributes["start_ns"] for s in scenes], pa.int64()),
            "end_ns": pa.array([s.attributes["end_ns"] for s in scenes], pa.int64()),
            "start": pa.array([s.start for s in scenes], pa.timestamp("us", tz="UTC")),
            "end": pa.array([s.end for s in scenes], pa.timestamp("us", tz="UTC")),
            "confidence": pa.array([s.confidence for s in scenes], pa.float64()),
            "attributes": pa.array(
                [json.dumps(s.attributes, sort_keys=True) for s in scenes], pa.string()
            ),
        }
    )


# ----------------------------------------------------------------------------- inputs


def _read_enriched(
    zones: BlobZones,
    store: MetadataStore,
    enriched_id: str,
    times: Int64Array,
    config: SceneConfig,
) -> dict[str, pa.Array]:
    """The enriched columns this step uses, aligned to the synchronized frames by time."""
    enriched = store.get_datastream(enriched_id)
    tables = [
        record.path
        for record in store.list_files(enriched.id, limit=100).items
        if record.path.endswith(".parquet")
    ]
    if not tables:
        return {}
    # enrich writes ``enriched.parquet``; any other single table is taken as the same thing.
    named = [path for path in tables if path.endswith(f"/{ENRICHED_NAME}")]
    path = (named or sorted(tables))[0]
    blob = zones.read_bytes(Zone.CURATED, path, max_bytes=config.max_file_bytes)
    table = pq.read_table(pa.BufferReader(blob.data))
    if "time_ns" not in table.column_names:
        raise InvalidInputError("no time_ns column", source=f"curated/{path}")
    their = np.asarray(table.column("time_ns").to_numpy(), dtype=np.int64)
    order = np.argsort(their, kind="stable")
    position = np.clip(np.searchsorted(their[order], times), 0, max(their.size - 1, 0))
    same = their.size > 0
    hit = (their[order][position] == times) if same else np.zeros(times.size, dtype=bool)
    take = pa.array(np.where(hit, order[position], 0))
    columns: dict[str, pa.Array] = {}
    for name in ENRICHED_COLUMNS:
        if name in table.column_names and same:
            picked = table.column(name).combine_chunks().take(take)
            # Frames the enriched table has no row for: null, never a neighbour's value.
            columns[name] = pc.if_else(pa.array(hit), picked, pa.scalar(None, picked.type))
    return columns


def _classes(
    zones: BlobZones,
    synchronized: pa.Table,
    enriched: dict[str, pa.Array],
    config: SceneConfig,
) -> list[list[str]]:
    """Object classes per frame: the enriched ``object_classes`` if present, else the classes
    of the perception message matched to each frame (the sensor ``detections_sensor``)."""
    count = synchronized.num_rows
    if "object_classes" in enriched:
        return [list(c or []) for c in enriched["object_classes"].to_pylist()]
    sensors = sorted(
        name[: -len(".path")]
        for name in synchronized.column_names
        if name.endswith(".path") and fnmatchcase(name[: -len(".path")], config.detections_sensor)
    )
    result: list[list[str]] = [[] for _ in range(count)]
    for sensor in sensors:
        paths = synchronized.column(f"{sensor}.path").to_pylist()
        rows = synchronized.column(f"{sensor}.row").to_pylist()
        by_file: dict[str, list[list[str]]] = {}
        for path in sorted({p for p in paths if p}):
            blob = zones.read_bytes(Zone.EXTRACTED, path, max_bytes=config.max_file_bytes)
            parquet = pq.ParquetFile(pa.BufferReader(blob.data))
            # Only the class-bearing columns are decoded, not boxes and poses.
            wanted = [n for n in _CLASS_COLUMNS if n in parquet.schema_arrow.names]
            by_file[path] = frame_object_classes(parquet.read(columns=wanted))
        for index, (path, row) in enumerate(zip(paths, rows, strict=True)):
            if path and row is not None:
                result[index] = sorted(set(result[index]) | set(by_file[path][row]))
    return result


def frame_object_classes(table: pa.Table) -> list[list[str]]:
    """Class ids per row of an extracted detections table.

    Understands the flattened ``vision_msgs`` Detection2D/3DArray layout (``detections`` ->
    ``results`` -> ``hypothesis.class_id``) and flat tables with a ``class_id`` or ``label``
    list or string column; other layouts give no classes.
    """
    if "detections" in table.column_names:
        detections = table.column("detections").combine_chunks()
        out: list[list[str]] = []
        for row in detections.to_pylist():
            classes = {
                str(result["hypothesis"]["class_id"])
                for detection in row or []
                for result in (detection or {}).get("results") or []
                if (result or {}).get("hypothesis") and result["hypothesis"].get("class_id")
            }
            out.append(sorted(classes))
        return out
    for name in _CLASS_COLUMNS[1:]:
        if name in table.column_names:
            values = table.column(name).to_pylist()
            return [
                sorted({str(v) for v in value})
                if isinstance(value, list)
                else ([str(value)] if value is not None else [])
                for value in values
            ]
    return [[] for _ in range(table.num_rows)]


def _result(datastream: Datastream) -> dict[str, Any]:
    return summary(datastream, scenes=0, types={})


run_scene_detection = StepRunner(DETECT_SCENES, _detect_scenes, _result, DEFAULT_CONFIG_PATH)
"""Detect scenes, write them to the store and the Delta tables, datastream COMPLETED."""
