"""Objects per frame: from the recording's own perception topics, and an optional detector.

Perception topics are ``vision_msgs/Detection2DArray`` (ROS 1 and 2), extracted as a
``structured`` table with a ``detections`` column: a list of detections, each with a list of
``results`` whose ``hypothesis`` holds ``class_id`` and ``score``. A detection's class is its
best-scoring hypothesis. The synchronized Parquet names, per frame, the extracted table file
and row of the matched message (``<sensor>.path`` / ``<sensor>.row``).

A configured ONNX detector (dataops/enrichment/onnx_detector.py) adds its own objects per
frame; both sources merge into one count and class list, and the ``objects`` column keeps each
object's ``source`` (``perception`` or ``detector``) so the two can be told apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataops.enrichment.providers import FloatArray, Int64Array
from dataops.errors import InvalidInputError

__all__ = [
    "DETECTIONS_COLUMN",
    "OBJECT_TYPE",
    "SOURCE_DETECTOR",
    "SOURCE_PERCEPTION",
    "UNKNOWN_CLASS",
    "DetectedObject",
    "FrameObjects",
    "classes_per_message",
    "merge_objects",
    "objects_per_frame",
    "objects_per_message",
]

DETECTIONS_COLUMN = "detections"
UNKNOWN_CLASS = "unknown"
SOURCE_PERCEPTION = "perception"
SOURCE_DETECTOR = "detector"
# One object of the ``objects`` column; score and box are null where the source has none.
OBJECT_TYPE = pa.struct(
    [
        pa.field("source", pa.string()),
        pa.field("class", pa.string()),
        pa.field("score", pa.float32()),
        pa.field("x_min", pa.float32()),
        pa.field("y_min", pa.float32()),
        pa.field("x_max", pa.float32()),
        pa.field("y_max", pa.float32()),
    ]
)


@dataclass(frozen=True)
class FrameObjects:
    """Per reference frame: detected object count (null: no matched message) and classes."""

    count: pa.Array  # int32
    classes: pa.Array  # list<string>, sorted distinct classes
    # Per frame, each object in detection order (None: no matched message).
    per_frame: list[list[DetectedObject] | None] = field(default_factory=list)


@dataclass(frozen=True)
class DetectedObject:
    """One object: class name, score, box x_min, y_min, x_max, y_max in image pixels.

    Score and box are None where the source has none (a detection without hypotheses or bbox).
    """

    class_name: str
    score: float | None
    box: tuple[float, float, float, float] | None


def _as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def classes_per_message(detections: pa.Array | pa.ChunkedArray) -> list[list[str]]:
    """Per message (table row): the class of each detection, in detection order."""
    return [[o.class_name for o in found] for found in objects_per_message(detections)]


def _boxes(items: pa.Array) -> FloatArray | None:
    """x_min, y_min, x_max, y_max per detection from ``bbox`` (NaN rows: no box), if any.

    ROS 2 vision_msgs: ``bbox.center.position.{x, y}``; ROS 1: ``bbox.center.{x, y}``.
    """
    fields = {f.name for f in items.type}
    if "bbox" not in fields:
        return None
    bbox = pc.struct_field(items, "bbox")
    bbox_fields = {f.name for f in bbox.type}
    if not {"center", "size_x", "size_y"} <= bbox_fields:
        return None
    center = pc.struct_field(bbox, "center")
    center_fields = {f.name for f in center.type}
    if "position" in center_fields:
        center = pc.struct_field(center, "position")
        center_fields = {f.name for f in center.type}
    if not {"x", "y"} <= center_fields:
        return None

    def values(array: pa.Array) -> FloatArray:
        cast = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(cast, dtype=np.float64)

    cx, cy = values(pc.struct_field(center, "x")), values(pc.struct_field(center, "y"))
    half_w = values(pc.struct_field(bbox, "size_x")) / 2
    half_h = values(pc.struct_field(bbox, "size_y")) / 2
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)


def objects_per_message(detections: pa.Array | pa.ChunkedArray) -> list[list[DetectedObject]]:
    """Per message (table row): each detection's best-scoring class, its score and its box."""
    column = _as_array(detections)
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        raise InvalidInputError(f"'{DETECTIONS_COLUMN}' is {column.type}, not a list")
    items = column.flatten()
    owner = np.asarray(pc.list_parent_indices(column).to_numpy(), dtype=np.int64)
    best = np.full(len(items), -1, dtype=np.int64)
    class_ids: list[str | None] = []
    scores = np.zeros(0)
    boxes = _boxes(items) if len(items) else None
    if len(items):
        results = pc.struct_field(items, "results")
        hypotheses = pc.struct_field(results.flatten(), "hypothesis")
        class_ids = pc.struct_field(hypotheses, "class_id").to_pylist()
        scores = np.nan_to_num(
            np.asarray(pc.struct_field(hypotheses, "score").to_numpy(zero_copy_only=False), float),
            nan=-np.inf,
        )
        result_owner = np.asarray(pc.list_parent_indices(results).to_numpy(), dtype=np.int64)
        # Highest score first within each detection; the first result per detection wins.
        order = np.lexsort((np.arange(scores.size), -scores, result_owner))
        first = np.ones(order.size, dtype=bool)
        first[1:] = result_owner[order][1:] != result_owner[order][:-1]
        best[result_owner[order][first]] = order[first]
    out: list[list[DetectedObject]] = [[] for _ in range(len(column))]
    for detection, message in enumerate(owner):
        pick = int(best[detection])
        name = class_ids[pick] if pick >= 0 else None
        score = float(scores[pick]) if pick >= 0 and np.isfinite(scores[pick]) else None
        box: tuple[float, float, float, float] | None = None
        if boxes is not None and np.all(np.isfinite(boxes[detection])):
            x0, y0, x1, y1 = (float(v) for v in boxes[detection])
            box = (x0, y0, x1, y1)
        out[int(message)].append(DetectedObject(name or UNKNOWN_CLASS, score, box))
    return out


def objects_per_frame(
    paths: list[str | None], rows: Int64Array, read_detections: Callable[[str], pa.Array]
) -> FrameObjects:
    """Count and classes per frame from the matched message of each frame.

    ``read_detections(path)`` returns the ``detections`` column of one extracted table; each
    distinct file is read once.
    """
    by_file: dict[str, list[list[DetectedObject]]] = {}
    counts: list[int | None] = []
    classes: list[list[str] | None] = []
    per_frame: list[list[DetectedObject] | None] = []
    for path, row in zip(paths, rows.tolist(), strict=True):
        if path is None:
            counts.append(None)
            classes.append(None)
            per_frame.append(None)
            continue
        if path not in by_file:
            by_file[path] = objects_per_message(read_detections(path))
        messages = by_file[path]
        if not 0 <= row < len(messages):
            raise InvalidInputError(f"row {row} is outside the table", source=path)
        found = messages[row]
        counts.append(len(found))
        classes.append(sorted({o.class_name for o in found}))
        per_frame.append(found)
    return FrameObjects(
        pa.array(counts, type=pa.int32()), pa.array(classes, type=pa.list_(pa.string())), per_frame
    )


def merge_objects(
    perception: Sequence[list[DetectedObject] | None],
    detected: Sequence[list[DetectedObject] | None],
) -> tuple[FrameObjects, pa.Array]:
    """Both sources per frame: total count, distinct classes and the ``objects`` column.

    A frame that neither source looked at (no matched message, not a detector frame) is null;
    a frame one of them looked at counts that one's objects.
    """
    counts: list[int | None] = []
    classes: list[list[str] | None] = []
    objects: list[list[dict[str, object]] | None] = []
    per_frame: list[list[DetectedObject] | None] = []
    for seen, found in zip(perception, detected, strict=True):
        if seen is None and found is None:
            counts.append(None)
            classes.append(None)
            objects.append(None)
            per_frame.append(None)
            continue
        both = [(SOURCE_PERCEPTION, item) for item in seen or []]
        both += [(SOURCE_DETECTOR, item) for item in found or []]
        counts.append(len(both))
        classes.append(sorted({item.class_name for _, item in both}))
        objects.append([_object_row(source, item) for source, item in both])
        per_frame.append([item for _, item in both])
    merged = FrameObjects(
        pa.array(counts, type=pa.int32()),
        pa.array(classes, type=pa.list_(pa.string())),
        per_frame,
    )
    return merged, pa.array(objects, type=pa.list_(OBJECT_TYPE))


def _object_row(source: str, item: DetectedObject) -> dict[str, object]:
    box = item.box or (None, None, None, None)
    return {
        "source": source,
        "class": item.class_name,
        "score": item.score,
        "x_min": box[0],
        "y_min": box[1],
        "x_max": box[2],
        "y_max": box[3],
    }
