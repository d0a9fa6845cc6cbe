"""Frame search: ``GET /api/frames`` answered from the frame index Delta tables.

Two levels of pushdown. The metadata store picks the tables: the measurements of the vehicle
that overlap [from, to], and of each the newest COMPLETED SCENES datastream (a rerun replaces,
never adds to, a measurement's frames). DuckDB then scans those tables' Parquet files with the
remaining predicates (time, object class, scene type, the page's keyset position), which it
pushes down to row groups. Tables are read from a local cache of the curated zone
(``dataops.frames.delta``), so repeated searches read each table once.

Pages are keyset pages on (time_ns, datastream_id, frame) with an opaque continuation token
bound to the filters, like the store's listings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dataops.frames.delta import download_delta_table
from dataops.models import Datastream, DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store import MeasurementQuery, MetadataStore
from dataops.store.continuation import decode_token, encode_token, fingerprint
from dataops.store.protocol import MAX_PAGE_SIZE, Page

__all__ = ["FrameQuery", "FrameSearch"]

_COLUMNS = (
    "vehicle_id",
    "measurement_id",
    "datastream_id",
    "frame",
    "time_ns",
    "paths",
    "object_classes",
    "scene_ids",
    "scene_types",
    "speed_mps",
    "latitude",
    "longitude",
    "h3_cell",
    "is_night",
    "is_raining",
)


@dataclass(frozen=True)
class FrameQuery:
    """Filters (AND); times bound the frame time, inclusive."""

    vehicle_id: str | None = None
    object_class: str | None = None
    scene_type: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    limit: int = 100
    continuation: str | None = None


def _ns(value: datetime) -> int:
    return round(value.timestamp() * 1_000_000) * 1000


class FrameSearch:
    """Searches the frame index; one per process (it owns the table cache)."""

    def __init__(self, zones: BlobZones, cache_dir: Path) -> None:
        self._zones = zones
        self._cache_dir = cache_dir
        self._lock = threading.Lock()

    def _tables(self, store: MetadataStore, query: FrameQuery) -> Iterator[Datastream]:
        """The newest COMPLETED SCENES datastream of each matching measurement."""
        continuation: str | None = None
        while True:
            page = store.query_measurements(
                MeasurementQuery(
                    vehicle_id=query.vehicle_id,
                    recorded_from=query.time_from,
                    recorded_to=query.time_to,
                    limit=MAX_PAGE_SIZE,
                    continuation=continuation,
                )
            )
            for measurement in page.items:
                done = [
                    d
                    for d in store.list_datastreams(measurement.id, DatastreamType.SCENES)
                    if d.state is DatastreamState.COMPLETED and d.stats.get("frames_table")
                ]
                if done:
                    yield max(done, key=lambda d: (d.created_at, d.id))
            continuation = page.continuation
            if continuation is None:
                return

    def _files(self, datastream: Datastream) -> list[str]:
        with self._lock:  # one download of a table at a time per process
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            table = download_delta_table(
                self._zones, Zone.CURATED, str(datastream.stats["frames_table"]), self._cache_dir
            )
        return list(table.file_uris())

    def search(self, store: MetadataStore, query: FrameQuery) -> Page[dict[str, Any]]:
        """One page of frames in (time, datastream, frame) order."""
        filters = fingerprint(
            query.vehicle_id, query.object_class, query.scene_type, query.time_from, query.time_to
        )
        where = ["TRUE"]
        args: dict[str, Any] = {"limit": query.limit + 1}
        if query.vehicle_id is not None:
            where.append("vehicle_id = $vehicle")
            args["vehicle"] = query.vehicle_id
        if query.time_from is not None:
            where.append("time_ns >= $from")
            args["from"] = _ns(query.time_from)
        if query.time_to is not None:
            where.append("time_ns <= $to")
            args["to"] = _ns(query.time_to)
        if query.object_class is not None:
            where.append("list_contains(object_classes, $object)")
            args["object"] = query.object_class
        if query.scene_type is not None:
            where.append("list_contains(scene_types, $scene_type)")
            args["scene_type"] = query.scene_type
        if query.continuation is not None:
            time_ns, datastream_id, frame = decode_token(query.continuation, "frames", filters, 3)
            where.append("(time_ns, datastream_id, frame) > ($after_t, $after_d, $after_f)")
            args.update(after_t=int(time_ns), after_d=datastream_id, after_f=int(frame))
        files = [
            path for datastream in self._tables(store, query) for path in self._files(datastream)
        ]
        if not files:
            return Page(items=[], continuation=None)
        args["files"] = files
        # Only constant fragments are joined in; every value is a bound $parameter.
        condition = " AND ".join(where)
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM read_parquet($files) WHERE {condition} "  # noqa: S608
            "ORDER BY time_ns, datastream_id, frame LIMIT $limit"
        )
        with duckdb.connect() as connection:
            rows = connection.execute(sql, args).fetchall()
        items = [dict(zip(_COLUMNS, row, strict=True)) for row in rows[: query.limit]]
        token = None
        if len(rows) > query.limit:
            last = items[-1]
            token = encode_token(
                "frames",
                filters,
                [str(last["time_ns"]), str(last["datastream_id"]), str(last["frame"])],
            )
        return Page(items=items, continuation=token)
