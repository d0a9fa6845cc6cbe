"""Scenes, frames and labels Delta tables for search tests, written as the pipeline writes them.

Each ``publish_*`` uploads a table to the curated zone (``dataops.frames.delta``) and registers
the COMPLETED datastream whose stats point at it, which is all the search reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from dataops.frames.delta import upload_delta_table
from dataops.frames.index import FRAMES_SCHEMA
from dataops.frames.tables import FRAMES_TABLE_STAT, LABELS_TABLE_STAT, SCENES_TABLE_STAT
from dataops.labeling.package import LABELS_SCHEMA
from dataops.models import Datastream, DatastreamState, DatastreamType, Producer, Scene
from dataops.paths import Zone, join_path
from dataops.scenes.steps import scene_table  # the writer detect_scenes uses
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = ["FrameRow", "LabelRow", "publish_labels", "publish_scenes", "scenes_table"]


@dataclass(frozen=True)
class FrameRow:
    """One frame index row; the columns a search filters on, the rest left empty."""

    time_ns: int
    objects: Sequence[str] = ()
    scene_ids: Sequence[str] = ()
    scene_types: Sequence[str] = ()
    paths: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelRow:
    """One label: the frame time it belongs to and its category."""

    time_ns: int
    category: str
    frame: int = 0


def scenes_table(scenes: Sequence[Scene]) -> pa.Table:
    """The scenes table detect_scenes writes (attributes must hold start_ns and end_ns)."""
    return scene_table(list(scenes))


def _ns(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def _completed(
    store: MetadataStore,
    *,
    datastream_id: str,
    measurement_id: str,
    type: DatastreamType,  # noqa: A002  # mirrors the model field
    path: str,
    stats: dict[str, object],
    created_at: datetime | None,
) -> Datastream:
    extra = {} if created_at is None else {"created_at": created_at}
    created = store.create_datastream(
        Datastream(
            id=datastream_id,
            measurement_id=measurement_id,
            type=type,
            zone=Zone.CURATED,
            path=path,
            producer=Producer(step="search-test", code_version="0", instance_id="test"),
            **extra,  # type: ignore[arg-type]  # created_at: a datetime, checked by pydantic
        )
    )
    assert created.etag is not None
    processing = store.transition_datastream(
        datastream_id, DatastreamState.PROCESSING, expected_etag=created.etag
    )
    assert processing.etag is not None
    return store.transition_datastream(
        datastream_id, DatastreamState.COMPLETED, expected_etag=processing.etag, stats=stats
    )


def frames_table(
    rows: Sequence[FrameRow], *, vehicle_id: str, measurement_id: str, datastream_id: str
) -> pa.Table:
    """A frame index table (FRAMES_SCHEMA) of ``rows``, frame numbers in row order."""
    count = len(rows)
    return pa.table(
        {
            "vehicle_id": [vehicle_id] * count,
            "measurement_id": [measurement_id] * count,
            "datastream_id": [datastream_id] * count,
            "frame": list(range(count)),
            "time_ns": [row.time_ns for row in rows],
            "paths": [list(row.paths.items()) for row in rows],
            "object_classes": [sorted(row.objects) for row in rows],
            "scene_ids": [list(row.scene_ids) for row in rows],
            "scene_types": [list(row.scene_types) for row in rows],
            "speed_mps": [None] * count,
            "latitude": [None] * count,
            "longitude": [None] * count,
            "h3_cell": [None] * count,
            "is_night": [None] * count,
            "is_raining": [None] * count,
        },
        schema=FRAMES_SCHEMA,
    )


def publish_scenes(
    store: MetadataStore,
    zones: BlobZones,
    *,
    datastream_id: str,
    vehicle_id: str,
    measurement_id: str,
    scenes: Sequence[Scene],
    frames: Sequence[FrameRow] = (),
    created_at: datetime | None = None,
) -> Datastream:
    """A COMPLETED SCENES datastream with a scenes table and a frame index table."""
    path = f"search-test/{measurement_id}/{datastream_id}"
    scenes_prefix = join_path(path, "scenes")
    frames_prefix = join_path(path, "frames")
    # detect_scenes keeps the exact frame times in the attributes; the table is made of them.
    timed = [
        scene.model_copy(
            update={
                "attributes": {
                    "start_ns": _ns(scene.start),
                    "end_ns": _ns(scene.end),
                    **scene.attributes,
                }
            }
        )
        for scene in scenes
    ]
    upload_delta_table(zones, Zone.CURATED, scenes_prefix, scenes_table(timed))
    upload_delta_table(
        zones,
        Zone.CURATED,
        frames_prefix,
        frames_table(
            frames,
            vehicle_id=vehicle_id,
            measurement_id=measurement_id,
            datastream_id=datastream_id,
        ),
    )
    return _completed(
        store,
        datastream_id=datastream_id,
        measurement_id=measurement_id,
        type=DatastreamType.SCENES,
        path=path,
        stats={SCENES_TABLE_STAT: scenes_prefix, FRAMES_TABLE_STAT: frames_prefix},
        created_at=created_at,
    )


def labels_table(
    rows: Sequence[LabelRow],
    *,
    vehicle_id: str,
    measurement_id: str,
    datastream_id: str,
    frames_datastream_id: str,
) -> pa.Table:
    """A labels table (LABELS_SCHEMA) of ``rows``."""
    count = len(rows)
    return pa.table(
        {
            "vehicle_id": [vehicle_id] * count,
            "measurement_id": [measurement_id] * count,
            "export_id": ["export-test"] * count,
            "labeled_datastream_id": [datastream_id] * count,
            "frames_datastream_id": [frames_datastream_id] * count,
            "frame": [row.frame for row in rows],
            "time_ns": [row.time_ns for row in rows],
            "sensor": ["camera_front"] * count,
            "item_id": list(range(1, count + 1)),
            "label_id": [f"{datastream_id}-{index}" for index in range(count)],
            "category": [row.category for row in rows],
            "bbox_x": [1.0] * count,
            "bbox_y": [2.0] * count,
            "bbox_w": [3.0] * count,
            "bbox_h": [4.0] * count,
            "attributes_json": ["{}"] * count,
        },
        schema=LABELS_SCHEMA,
    )


def publish_labels(
    store: MetadataStore,
    zones: BlobZones,
    *,
    datastream_id: str,
    vehicle_id: str,
    measurement_id: str,
    frames_datastream_id: str,
    labels: Sequence[LabelRow],
) -> Datastream:
    """A COMPLETED LABELED datastream with a labels table."""
    path = f"search-test/{measurement_id}/{datastream_id}"
    prefix = join_path(path, "labels")
    upload_delta_table(
        zones,
        Zone.CURATED,
        prefix,
        labels_table(
            labels,
            vehicle_id=vehicle_id,
            measurement_id=measurement_id,
            datastream_id=datastream_id,
            frames_datastream_id=frames_datastream_id,
        ),
    )
    return _completed(
        store,
        datastream_id=datastream_id,
        measurement_id=measurement_id,
        type=DatastreamType.LABELED,
        path=path,
        stats={LABELS_TABLE_STAT: prefix},
        created_at=None,
    )
