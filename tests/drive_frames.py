"""A drive as the explorer's drive view reads it: JPEG frames and a COMPLETED SYNCHRONIZED table.

Shared by the frames route's tests and the explorer benchmark: a measurement, one encoded image
per reference frame in the extracted zone and a SYNCHRONIZED table naming them (rows in the
order given, which need not be time order), written the way the synchronize step leaves them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    Measurement,
    Producer,
)
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = ["add_completed", "parquet_bytes", "seed_frames_drive"]


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as a Parquet file's bytes."""
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def add_completed(store: MetadataStore, datastream: Datastream) -> None:
    """Create ``datastream`` and take it through PROCESSING to COMPLETED."""
    store.create_datastream(datastream)
    for state in (DatastreamState.PROCESSING, DatastreamState.COMPLETED):
        etag = store.get_datastream(datastream.id).etag or ""
        store.transition_datastream(datastream.id, state, expected_etag=etag)


def seed_frames_drive(  # one keyword per part of the drive
    store: MetadataStore,
    zones: BlobZones,
    *,
    measurement_id: str,
    start: datetime,
    rows: Sequence[tuple[int, int]],
    image: Callable[[int], bytes],
) -> None:
    """Measurement ``measurement_id`` with one JPEG per (frame, time_ns) of ``rows`` (from
    ``image(frame)``) and a SYNCHRONIZED datastream ``<measurement_id>-sync`` naming them."""
    store.create_measurement(
        Measurement(
            id=measurement_id,
            vehicle_id="VIN-FRAMES",
            recording_start=start,
            recording_end=start + timedelta(seconds=max(1, len(rows))),
            upload_prefix=f"uploads/{measurement_id}",
            content_sha256="a" * 64,
        )
    )
    paths = [f"{measurement_id}/cam/{frame:05d}.jpg" for frame, _ in rows]
    for (frame, _), path in zip(rows, paths, strict=True):
        zones.write_bytes(Zone.EXTRACTED, path, image(frame))
    table = pa.table(
        {
            "frame": pa.array([frame for frame, _ in rows], pa.int64()),
            "time_ns": pa.array([time_ns for _, time_ns in rows], pa.int64()),
            "reference.path": pa.array(paths),
        }
    )
    table_path = f"{measurement_id}/sync/synchronized.parquet"
    zones.write_bytes(Zone.CURATED, table_path, parquet_bytes(table))
    add_completed(
        store,
        Datastream(
            id=f"{measurement_id}-sync",
            measurement_id=measurement_id,
            type=DatastreamType.SYNCHRONIZED,
            state=DatastreamState.CREATED,
            zone=Zone.CURATED,
            path=f"{measurement_id}/sync",
            producer=Producer(step="synchronize", code_version="1"),
            stats={"path": table_path},
        ),
    )
