"""Objects per frame: from the recording's own perception topics, and an optional detector.

Perception topics are ``vision_msgs/Detection2DArray`` (ROS 1 and 2), extracted as a
``structured`` table with a ``detections`` column: a list of detections, each with a list of
``results`` whose ``hypothesis`` holds ``class_id`` and ``score``. A detection's class is its
best-scoring hypothesis. The synchronized Parquet names, per frame, the extracted table file
and row of the matched message (``<sensor>.path`` / ``<sensor>.row``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataops.enrichment.providers import Int64Array
from dataops.errors import InvalidInputError

__all__ = [
    "DETECTIONS_COLUMN",
    "UNKNOWN_CLASS",
    "FrameObjects",
    "classes_per_message",
    "detector_status",
    "objects_per_frame",
]

DETECTIONS_COLUMN = "detections"
UNKNOWN_CLASS = "unknown"


@dataclass(frozen=True)
class FrameObjects:
    """Per reference frame: detected object count (null: no matched message) and classes."""

    count: pa.Array  # int32
    classes: pa.Array  # list<string>, sorted distinct classes


def _as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def classes_per_message(detections: pa.Array | pa.ChunkedArray) -> list[list[str]]:
    """Per message (table row): the class of each detection, in detection order."""
    column = _as_array(detections)
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        raise InvalidInputError(f"'{DETECTIONS_COLUMN}' is {column.type}, not a list")
    items = column.flatten()
    owner = np.asarray(pc.list_parent_indices(column).to_numpy(), dtype=np.int64)
    best = np.full(len(items), -1, dtype=np.int64)
    class_ids: list[str | None] = []
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
    out: list[list[str]] = [[] for _ in range(len(column))]
    for detection, message in enumerate(owner):
        pick = best[detection]
        name = class_ids[pick] if pick >= 0 else None
        out[int(message)].append(name or UNKNOWN_CLASS)
    return out


def objects_per_frame(
    paths: list[str | None], rows: Int64Array, read_detections: Callable[[str], pa.Array]
) -> FrameObjects:
    """Count and classes per frame from the matched message of each frame.

    ``read_detections(path)`` returns the ``detections`` column of one extracted table; each
    distinct file is read once.
    """
    by_file: dict[str, list[list[str]]] = {}
    counts: list[int | None] = []
    classes: list[list[str] | None] = []
    for path, row in zip(paths, rows.tolist(), strict=True):
        if path is None:
            counts.append(None)
            classes.append(None)
            continue
        if path not in by_file:
            by_file[path] = classes_per_message(read_detections(path))
        messages = by_file[path]
        if not 0 <= row < len(messages):
            raise InvalidInputError(f"row {row} is outside the table", source=path)
        found = messages[row]
        counts.append(len(found))
        classes.append(sorted(set(found)))
    return FrameObjects(
        pa.array(counts, type=pa.int32()), pa.array(classes, type=pa.list_(pa.string()))
    )


def detector_status(detector: dict[str, Any] | None) -> dict[str, Any]:
    """What the optional ONNX detector contributes; recorded in the datastream's stats.

    Running a configured detector needs ``onnxruntime`` (not a dependency of the app); without
    it the step records why no detector ran rather than failing the whole enrichment.
    """
    if detector is None:
        return {"detector": None}
    if importlib.util.find_spec("onnxruntime") is None:
        return {"detector": None, "reason": "onnxruntime is not installed"}
    raise InvalidInputError(
        "an ONNX detector is configured, but running detectors is not supported yet",
        field="objects.detector",
    )
