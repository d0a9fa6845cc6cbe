"""The frame index: one row per reference frame of a synchronized measurement.

Built by the ``detect_scenes`` step from what it already has in memory (the synchronized
table, the per-frame object classes, the scenes it found and the enriched columns when there
are any) and written as a Delta table next to the scenes; ``dataops.frames.search`` answers
``GET /api/frames`` from these tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["FRAMES_SCHEMA", "FrameScene", "build_frame_table"]

FRAMES_SCHEMA = pa.schema(
    [
        ("vehicle_id", pa.string()),
        ("measurement_id", pa.string()),
        ("datastream_id", pa.string()),
        ("frame", pa.int64()),
        ("time_ns", pa.int64()),
        # Sensor name -> matched file in the extracted zone (cameras: the frame itself).
        ("paths", pa.map_(pa.string(), pa.string())),
        ("object_classes", pa.list_(pa.string())),
        ("scene_ids", pa.list_(pa.string())),
        ("scene_types", pa.list_(pa.string())),
        ("speed_mps", pa.float64()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        # From the enriched table, null without one.
        ("h3_cell", pa.string()),
        ("is_night", pa.bool_()),
        ("is_raining", pa.bool_()),
    ]
)
_PATH_SUFFIX = ".path"
_REFERENCE = "reference"


@dataclass(frozen=True)
class FrameScene:
    """What the index keeps of a scene: its id, type and first and last frame time."""

    id: str
    type: str
    start_ns: int
    end_ns: int


def _paths(synchronized: pa.Table) -> pa.Array:
    """Per frame, a map of sensor name -> matched path (unmatched sensors left out)."""
    metadata = synchronized.schema.metadata or {}
    reference = metadata.get(b"avops.reference", _REFERENCE.encode()).decode()
    columns = [name for name in synchronized.column_names if name.endswith(_PATH_SUFFIX)]
    names = [
        reference if name == f"{_REFERENCE}{_PATH_SUFFIX}" else name[: -len(_PATH_SUFFIX)]
        for name in columns
    ]
    values = [synchronized.column(name).to_pylist() for name in columns]
    rows = [
        [(name, col[index]) for name, col in zip(names, values, strict=True) if col[index]]
        for index in range(synchronized.num_rows)
    ]
    return pa.array(rows, type=pa.map_(pa.string(), pa.string()))


def _float(synchronized: pa.Table, name: str) -> pa.Array:
    if name in synchronized.column_names:
        return pa.array(synchronized.column(name).to_pylist(), type=pa.float64())
    return pa.nulls(synchronized.num_rows, pa.float64())


def build_frame_table(
    synchronized: pa.Table,
    *,
    vehicle_id: str,
    measurement_id: str,
    datastream_id: str,
    object_classes: Sequence[Sequence[str]],
    scenes: Sequence[FrameScene],
    enriched: Mapping[str, pa.Array] | None = None,
) -> pa.Table:
    """The frame index rows of one SCENES datastream (``enriched``: columns aligned by frame)."""
    count = synchronized.num_rows
    times = np.asarray(synchronized.column("time_ns").to_numpy(), dtype=np.int64)
    scene_ids: list[list[str]] = [[] for _ in range(count)]
    scene_types: list[list[str]] = [[] for _ in range(count)]
    for scene in sorted(scenes, key=lambda s: (s.start_ns, s.type, s.id)):
        first = int(np.searchsorted(times, scene.start_ns, side="left"))
        last = int(np.searchsorted(times, scene.end_ns, side="right"))
        for index in range(first, last):
            scene_ids[index].append(scene.id)
            if scene.type not in scene_types[index]:
                scene_types[index].append(scene.type)
    extra = dict(enriched or {})

    def enriched_column(name: str, type_: pa.DataType) -> pa.Array:
        column = extra.get(name)
        return pa.nulls(count, type_) if column is None else column.cast(type_)

    return pa.Table.from_arrays(
        [
            pa.array([vehicle_id] * count, pa.string()),
            pa.array([measurement_id] * count, pa.string()),
            pa.array([datastream_id] * count, pa.string()),
            pa.array(np.arange(count, dtype=np.int64)),
            pa.array(times),
            _paths(synchronized),
            pa.array([sorted(set(c)) for c in object_classes], pa.list_(pa.string())),
            pa.array(scene_ids, pa.list_(pa.string())),
            pa.array(scene_types, pa.list_(pa.string())),
            _float(synchronized, "speed_mps"),
            _float(synchronized, "latitude"),
            _float(synchronized, "longitude"),
            enriched_column("h3_cell", pa.string()),
            enriched_column("is_night", pa.bool_()),
            enriched_column("is_raining", pa.bool_()),
        ],
        schema=FRAMES_SCHEMA,
    )
