"""The drive view's data: route, signals, scenes and frames with boxes of one measurement.

Everything is read from what the pipeline wrote: the GPS table of the newest COMPLETED
EXTRACTED datastream, the SYNCHRONIZED table (one row per reference frame), the ENRICHED table
(objects with boxes per frame), the scenes table (through :class:`SceneSearch`) and the labels
tables of COMPLETED LABELED datastreams. Tables are read column-pruned; the parsed tables are
kept in a small per-process cache keyed by blob path and etag, so a reload of the page or a
thumbnail never reads a table twice while it is unchanged. Every table read here belongs to a
COMPLETED datastream, which is final (a rerun writes a new datastream under its own path), so
a table's etag is checked again only after ``REVALIDATE_S``: a page of frames or a thumbnail
costs no blob request for its tables, and a table changed or deleted by hand is noticed within
that time (an erasure drops its measurements' tables and checks at once: ``forget``).

Frames come in pages (keyset on time and frame number, the store's continuation tokens),
optionally starting at a time: the drive view loads the page around its cursor, and boxes are
built for the frames of the page only.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataops.errors import InvalidInputError, NotFoundError
from dataops.explorer.models import (
    Box,
    DriveFrame,
    DriveFrames,
    DriveScene,
    DriveScenes,
    DriveSignals,
    DriveTrack,
    RoadLine,
)
from dataops.explorer.thumbnails import ThumbnailCache
from dataops.frames.delta import download_delta_table, forget_cached_tables
from dataops.local_caches import CacheScope, register_cache, register_cache_dir
from dataops.models import Datastream, DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.scenes.search import SceneSearch, SceneTableQuery
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.store.continuation import Keyset, fingerprint

__all__ = ["EXPLORER_TABLE_CACHE_DIR", "MAX_FRAMES_PAGE", "DriveReader", "newest_completed"]

EXPLORER_TABLE_CACHE_DIR = register_cache_dir(Path(tempfile.gettempdir()) / "avops-explorer-tables")
"""The process's local copies of the tables the drive view reads (an erasure drops its own)."""

MAX_TABLE_BYTES = 256 * 1024 * 1024
MAX_FRAME_BYTES = 32 * 1024 * 1024
MAX_FRAMES_PAGE = 2000
REVALIDATE_S = 30.0
MAX_ROADS_BYTES = 16 * 1024 * 1024
_CACHE_ENTRIES = 32
_SIGNALS = ("speed_mps", "accel_long_mps2", "yaw_rate_rps")
_ROADS_NAME = "roads.geojson"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def newest_completed(datastreams: list[Datastream], kind: DatastreamType) -> Datastream | None:
    """The newest COMPLETED datastream of ``kind`` (what the drive view shows)."""
    done = [d for d in datastreams if d.type is kind and d.state is DatastreamState.COMPLETED]
    return max(done, key=lambda d: (d.created_at, d.id), default=None)


@dataclass(frozen=True)
class _Sources:
    measurement_id: str
    vehicle_id: str
    datastreams: list[Datastream]

    def newest(self, kind: DatastreamType) -> Datastream | None:
        return newest_completed(self.datastreams, kind)


class _TableCache:
    """Parsed Parquet tables by (zone, path, etag), least recently used out first.

    A blob's etag is taken from the last check for ``revalidate_s`` seconds (see the module
    docstring), then asked for again.
    """

    def __init__(self, entries: int, revalidate_s: float = REVALIDATE_S) -> None:
        self._entries = entries
        self._revalidate_s = revalidate_s
        self._tables: OrderedDict[tuple[str, str, str, tuple[str, ...]], pa.Table] = OrderedDict()
        self._checked: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _etag(self, zones: BlobZones, zone: Zone, path: str) -> str:
        now = time.monotonic()
        with self._lock:
            checked = self._checked.get((zone.value, path))
        if checked is not None and now - checked[1] < self._revalidate_s:
            return checked[0]
        etag = zones.get_info(zone, path).etag
        with self._lock:
            self._checked[(zone.value, path)] = (etag, now)
            self._checked.move_to_end((zone.value, path))
            while len(self._checked) > self._entries:
                self._checked.popitem(last=False)
        return etag

    def read(self, zones: BlobZones, zone: Zone, path: str, columns: tuple[str, ...]) -> pa.Table:
        key = (zone.value, path, self._etag(zones, zone, path), columns)
        with self._lock:
            if key in self._tables:
                self._tables.move_to_end(key)
                return self._tables[key]
        blob = zones.read_bytes(zone, path, max_bytes=MAX_TABLE_BYTES)
        with self._lock:
            # The blob read is pinned to one etag: a change since the check shows up here.
            self._checked[(zone.value, path)] = (blob.etag, time.monotonic())
        schema = pq.read_schema(io.BytesIO(blob.data))
        wanted = [name for name in columns if name in schema.names]
        table = pq.read_table(io.BytesIO(blob.data), columns=wanted)
        with self._lock:
            self._tables[(zone.value, path, blob.etag, columns)] = table
            while len(self._tables) > self._entries:
                self._tables.popitem(last=False)
        return table

    def forget(self, scope: CacheScope) -> int:
        """Drop the parsed tables read from the scope's folders."""
        with self._lock:
            gone = [key for key in self._tables if scope.covers_path(key[0], key[1])]
            for key in gone:
                del self._tables[key]
            # The next read of such a path asks its etag again (a deleted table: not found).
            for checked in [k for k in self._checked if scope.covers_path(k[0], k[1])]:
                del self._checked[checked]
        return len(gone)


def _column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [None] * len(table)


def _reference_columns(sensor: str | None) -> tuple[str, ...]:
    return (
        "frame",
        "time_ns",
        "reference.path",
        *_SIGNALS,
        *([f"{sensor}.path"] if sensor else []),
    )


class DriveReader:
    """Reads a drive's tables; one per process (it owns the table cache).

    Registered in :mod:`dataops.local_caches`: an erasure drops its parsed tables, local
    table copies and thumbnails of the erased measurements.
    """

    def __init__(
        self, zones: BlobZones, cache_dir: Path, *, revalidate_s: float = REVALIDATE_S
    ) -> None:
        self._zones = zones
        self._cache_dir = cache_dir
        self._tables = _TableCache(_CACHE_ENTRIES, revalidate_s)
        self.thumbnails = ThumbnailCache()
        register_cache(self)

    def forget(self, scope: CacheScope) -> int:
        """Drop everything of the scope this reader keeps, in memory and on disk."""
        return (
            self._tables.forget(scope)
            + self.thumbnails.forget_measurements(scope.measurement_ids)
            + forget_cached_tables(self._cache_dir, scope)
        )

    def _sources(self, store: MetadataStore, measurement_id: str) -> _Sources:
        measurement = store.get_measurement(measurement_id)
        return _Sources(
            measurement.id, measurement.vehicle_id, store.list_datastreams(measurement.id)
        )

    def _synchronized(self, sources: _Sources) -> tuple[Datastream, pa.Table]:
        datastream = sources.newest(DatastreamType.SYNCHRONIZED)
        path = datastream.stats.get("path") if datastream else None
        if datastream is None or not isinstance(path, str):
            raise NotFoundError(
                f"measurement {sources.measurement_id} has no synchronized table yet"
            )
        table = self._tables.read(self._zones, datastream.zone, path, _reference_columns(None))
        missing = [name for name in _FRAME_KEY if name not in table.column_names]
        if missing:
            # Not the caller's mistake: the drive has no usable frames (search skips it).
            raise NotFoundError(
                f"{datastream.zone.value}/{path}: the synchronized table of "
                f"{sources.measurement_id} has no {missing[0]} column"
            )
        return datastream, table

    def signals(self, store: MetadataStore, measurement_id: str) -> DriveSignals:
        """Speed, longitudinal acceleration and yaw rate per reference frame."""
        sources = self._sources(store, measurement_id)
        datastream, table = self._synchronized(sources)
        return DriveSignals(
            measurement_id=sources.measurement_id,
            datastream_id=datastream.id,
            time_ns=_column(table, "time_ns"),
            speed_mps=_column(table, "speed_mps"),
            accel_long_mps2=_column(table, "accel_long_mps2"),
            yaw_rate_rps=_column(table, "yaw_rate_rps"),
        )

    def _files(self, store: MetadataStore, datastream: Datastream) -> Iterator[str]:
        continuation: str | None = None
        while True:
            page = store.list_files(datastream.id, limit=1000, continuation=continuation)
            yield from (record.path for record in page.items)
            continuation = page.continuation
            if continuation is None:
                return

    def track(self, store: MetadataStore, measurement_id: str) -> DriveTrack:
        """Every GPS fix of the first GPS sensor (by name) and the road network, if uploaded."""
        sources = self._sources(store, measurement_id)
        extracted = sources.newest(DatastreamType.EXTRACTED)
        times: list[int] = []
        lats: list[float | None] = []
        lons: list[float | None] = []
        sensor = None
        if extracted is not None:
            tables = sorted(_gps_tables(self._files(store, extracted), extracted.path))
            if tables:
                sensor = tables[0][0]
                for _, path in (t for t in tables if t[0] == sensor):
                    table = self._tables.read(
                        self._zones, extracted.zone, path, ("time_ns", "latitude", "longitude")
                    )
                    times.extend(_column(table, "time_ns"))
                    lats.extend(_column(table, "latitude"))
                    lons.extend(_column(table, "longitude"))
        order = sorted(range(len(times)), key=times.__getitem__)
        return DriveTrack(
            measurement_id=sources.measurement_id,
            sensor=sensor,
            time_ns=[times[i] for i in order],
            latitude=[lats[i] for i in order],
            longitude=[lons[i] for i in order],
            roads=self._roads(store, sources),
        )

    def _roads(self, store: MetadataStore, sources: _Sources) -> list[RoadLine]:
        raw = sources.newest(DatastreamType.RAW)
        if raw is None:
            return []
        path = next(
            (p for p in self._files(store, raw) if p.rsplit("/", 1)[-1] == _ROADS_NAME), None
        )
        if path is None:
            return []
        document, _ = self._zones.read_json(raw.zone, path, max_bytes=MAX_ROADS_BYTES)
        return _road_lines(document)

    def scenes(self, store: MetadataStore, search: SceneSearch, measurement_id: str) -> DriveScenes:
        """Every scene of the measurement from its scenes tables, by start."""
        measurement = store.get_measurement(measurement_id)
        items: list[DriveScene] = []
        continuation: str | None = None
        while True:
            page = search.search(
                store,
                SceneTableQuery(
                    measurement_id=measurement.id, limit=1000, continuation=continuation
                ),
            )
            items.extend(
                DriveScene(
                    id=scene.id,
                    type=scene.type,
                    start_ns=int(scene.attributes.get("start_ns", _ns(scene.start))),
                    end_ns=int(scene.attributes.get("end_ns", _ns(scene.end))),
                )
                for scene in page.items
            )
            continuation = page.continuation
            if continuation is None:
                return DriveScenes(measurement_id=measurement.id, items=items)

    def frames(
        self,
        store: MetadataStore,
        measurement_id: str,
        *,
        limit: int = MAX_FRAMES_PAGE,
        from_ns: int | None = None,
        continuation: str | None = None,
    ) -> DriveFrames:
        """A page of reference frames in time order, with detection (ENRICHED) and label
        (LABELED) boxes; from ``from_ns`` on when given, after ``continuation`` when given."""
        sources = self._sources(store, measurement_id)
        synchronized, table = self._synchronized(sources)
        keyset = Keyset("drive-frames", fingerprint(sources.measurement_id, from_ns), _FRAME_KEY)
        after = _after(table, from_ns, _frame_position(keyset, continuation))
        page = keyset.page(
            _frame_rows(after, limit + 1),
            limit,
            item=lambda row: row,
            key=lambda row: [str(row[1]), str(row[0])],
        )
        return self._with_boxes(store, sources, synchronized, table, page.items, page.continuation)

    def frames_at(self, store: MetadataStore, measurement_id: str, times: list[int]) -> DriveFrames:
        """The frames at exactly ``times`` (search hits of one drive), with their boxes."""
        sources = self._sources(store, measurement_id)
        synchronized, table = self._synchronized(sources)
        rows = _frame_rows(_at_times(table, times), len(times))
        return self._with_boxes(store, sources, synchronized, table, rows, None)

    def _with_boxes(  # noqa: PLR0917  # the parts of one page, from frames/frames_at
        self,
        store: MetadataStore,
        sources: _Sources,
        synchronized: Datastream,
        table: pa.Table,
        rows: list[tuple[int, int, Any]],
        continuation: str | None,
    ) -> DriveFrames:
        reference = synchronized.stats.get("reference", {}).get("sensor")
        size = self._reference_size(_first_value(table, "reference.path"))
        times = [time_ns for _, time_ns, _ in rows]
        detections = self._detections(store, sources, size, times)
        labels = self._labels(sources, reference, times)
        items = [
            DriveFrame(
                frame=frame,
                time_ns=time_ns,
                has_image=bool(path) and str(path).lower().endswith(_IMAGE_SUFFIXES),
                boxes=[*detections.get(time_ns, []), *labels.get(time_ns, [])],
            )
            for frame, time_ns, path in rows
        ]
        return DriveFrames(
            measurement_id=sources.measurement_id,
            reference=reference if isinstance(reference, str) else None,
            width=size[0] if size else None,
            height=size[1] if size else None,
            items=items,
            continuation=continuation,
        )

    def frame_image(self, store: MetadataStore, measurement_id: str, frame: int) -> bytes:
        """The encoded reference image of ``frame`` (one blob read)."""
        sources = self._sources(store, measurement_id)
        _, table = self._synchronized(sources)
        frames = table.column("frame")
        row = pc.index(frames, pa.scalar(frame, frames.type)).as_py() if len(table) else -1
        if row < 0:
            raise NotFoundError(f"measurement {measurement_id} has no frame {frame}")
        path = _cell(table, "reference.path", row)
        if not path or not str(path).lower().endswith(_IMAGE_SUFFIXES):
            raise NotFoundError(f"frame {frame} of {measurement_id} has no encoded image")
        return self._zones.read_capped(Zone.EXTRACTED, str(path), max_bytes=MAX_FRAME_BYTES).data

    def _reference_size(self, first: Any) -> tuple[int, int] | None:
        if not first:
            return None
        first = str(first)
        index = first.rsplit("/", 1)[0] + "/index.parquet"
        try:
            table = self._tables.read(self._zones, Zone.EXTRACTED, index, ("width", "height"))
        except NotFoundError:
            return None
        widths, heights = _column(table, "width"), _column(table, "height")
        if not widths or widths[0] is None or heights[0] is None:
            return None
        return int(widths[0]), int(heights[0])

    def _detections(
        self,
        store: MetadataStore,
        sources: _Sources,
        size: tuple[int, int] | None,
        times: list[int],
    ) -> dict[int, list[Box]]:
        enriched = sources.newest(DatastreamType.ENRICHED)
        path = (
            next((p for p in self._files(store, enriched) if p.endswith("/enriched.parquet")), None)
            if enriched
            else None
        )
        if enriched is None or path is None:
            return {}
        table = _at_times(
            self._tables.read(self._zones, enriched.zone, path, ("time_ns", "objects")), times
        )
        if not len(table):
            return {}
        scale = self._detection_scale(store, sources, enriched, size)
        boxes: dict[int, list[Box]] = {}
        for time_ns, objects in zip(
            _column(table, "time_ns"), _column(table, "objects"), strict=True
        ):
            for item in objects or []:
                if item.get("x_min") is None:
                    continue
                boxes.setdefault(int(time_ns), []).append(
                    Box(
                        kind="detection",
                        category=str(item.get("class") or "unknown"),
                        score=item.get("score"),
                        x_min=item["x_min"] * scale[0],
                        y_min=item["y_min"] * scale[1],
                        x_max=item["x_max"] * scale[0],
                        y_max=item["y_max"] * scale[1],
                    )
                )
        return boxes

    def _detection_scale(
        self,
        store: MetadataStore,
        sources: _Sources,
        enriched: Datastream,
        size: tuple[int, int] | None,
    ) -> tuple[float, float]:
        # Perception boxes are in the pixels of a camera of the perception topic's recording;
        # the frame shown is the reference camera's, possibly at another resolution.
        sensor = enriched.stats.get("providers", {}).get("objects", {}).get("sensor")
        extracted = sources.newest(DatastreamType.EXTRACTED)
        if size is None or not isinstance(sensor, str) or extracted is None:
            return (1.0, 1.0)
        recording = sensor.split("/", 1)[0]
        prefix = f"{extracted.path}/{recording}/camera/"
        index = next(
            (
                p
                for p in self._files(store, extracted)
                if p.startswith(prefix) and p.endswith("/index.parquet")
            ),
            None,
        )
        if index is None:
            return (1.0, 1.0)
        table = self._tables.read(self._zones, extracted.zone, index, ("width", "height"))
        widths, heights = _column(table, "width"), _column(table, "height")
        if not widths or not widths[0] or not heights[0]:
            return (1.0, 1.0)
        return (size[0] / int(widths[0]), size[1] / int(heights[0]))

    def _labels(self, sources: _Sources, reference: Any, times: list[int]) -> dict[int, list[Box]]:
        boxes: dict[int, list[Box]] = {}
        for labeled in sources.datastreams:
            prefix = labeled.stats.get("labels_table")
            if (
                labeled.type is not DatastreamType.LABELED
                or labeled.state is not DatastreamState.COMPLETED
                or not isinstance(prefix, str)
            ):
                continue
            table = download_delta_table(
                self._zones, labeled.zone, prefix, self._cache_dir
            ).to_pyarrow_table()
            for row in _at_times(table, times).to_pylist():
                if row.get("sensor") != reference or row.get("bbox_x") is None:
                    continue
                boxes.setdefault(int(row["time_ns"]), []).append(
                    Box(
                        kind="label",
                        category=str(row["category"]),
                        x_min=row["bbox_x"],
                        y_min=row["bbox_y"],
                        x_max=row["bbox_x"] + row["bbox_w"],
                        y_max=row["bbox_y"] + row["bbox_h"],
                    )
                )
        return boxes


_FRAME_KEY = ("time_ns", "frame")


def _cell(table: pa.Table, name: str, row: int) -> Any:
    """One value of a column (None: no such column); no whole-column conversion."""
    return table.column(name)[row].as_py() if name in table.column_names else None


def _first_value(table: pa.Table, name: str) -> Any:
    """The column's first non-null value (None: no such column or only nulls)."""
    if name not in table.column_names:
        return None
    values = pc.drop_null(table.column(name))
    return values[0].as_py() if len(values) else None


def _at_times(table: pa.Table, times: list[int]) -> pa.Table:
    """The rows of ``table`` at one of ``times`` (a page's frames), before any row becomes
    Python objects: a page's boxes cost the page, not the drive."""
    if "time_ns" not in table.column_names:
        return table.slice(0, 0)
    wanted = pa.array(times, table.schema.field("time_ns").type)
    return table.filter(pc.is_in(table.column("time_ns"), value_set=wanted))


def _frame_position(keyset: Keyset, continuation: str | None) -> tuple[int, int] | None:
    """(time_ns, frame) a page starts after; a token that is not one of ours is a 400."""
    position = keyset.position(continuation)
    if position is None:
        return None
    try:
        return int(position[0]), int(position[1])
    except ValueError:
        raise InvalidInputError(
            "continuation token does not belong to this query", field="continuation"
        ) from None


def _after(table: pa.Table, from_ns: int | None, after: tuple[int, int] | None) -> pa.Table:
    """The rows at or after ``from_ns`` and strictly after the key ``after`` (time, frame)."""
    if not len(table):
        return table
    times, frames = table.column("time_ns"), table.column("frame")
    mask = None
    if from_ns is not None:
        mask = pc.greater_equal(times, from_ns)
    if after is not None:
        later = pc.or_(
            pc.greater(times, after[0]),
            pc.and_(pc.equal(times, after[0]), pc.greater(frames, after[1])),
        )
        mask = later if mask is None else pc.and_(mask, later)
    return table if mask is None else table.filter(mask)


def _frame_rows(table: pa.Table, count: int) -> list[tuple[int, int, Any]]:
    """The first ``count`` (frame, time_ns, reference path) rows in (time, frame) order; sorted
    in Arrow, so only the rows returned become Python objects."""
    if not len(table):
        return []
    order = pc.sort_indices(table, sort_keys=[("time_ns", "ascending"), ("frame", "ascending")])
    picked = table.take(order[:count])
    return list(
        zip(
            [int(frame) for frame in picked.column("frame").to_pylist()],
            [int(time_ns) for time_ns in picked.column("time_ns").to_pylist()],
            _column(picked, "reference.path"),
            strict=True,
        )
    )


def _ns(value: Any) -> int:
    return int(value.timestamp() * 1_000_000_000)


def _gps_tables(paths: Iterator[str], root: str) -> Iterator[tuple[str, str]]:
    """(sensor, table file) of each GPS table: ``<recording>/gps/<stream>/data[...].parquet``."""
    for path in paths:
        if not path.startswith(root + "/") or not path.endswith(".parquet"):
            continue
        parts = path[len(root) + 1 :].split("/")
        if len(parts) >= 4 and parts[1] == "gps" and parts[3] in ("data.parquet", "data"):
            yield "/".join(parts[:3]), path


def _road_lines(document: Any) -> list[RoadLine]:
    """LineStrings and MultiLineStrings of a GeoJSON FeatureCollection as [lat, lon] lines."""
    features = document.get("features") if isinstance(document, dict) else None
    lines: list[RoadLine] = []
    for feature in features if isinstance(features, list) else []:
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        properties = feature.get("properties") or {} if isinstance(feature, dict) else {}
        if not isinstance(geometry, dict):
            continue
        kind, coordinates = geometry.get("type"), geometry.get("coordinates") or []
        parts = (
            [coordinates]
            if kind == "LineString"
            else coordinates
            if kind == "MultiLineString"
            else []
        )
        for part in parts:
            points = [
                (float(point[1]), float(point[0]))
                for point in part
                if isinstance(point, list) and len(point) >= 2
            ]
            if len(points) >= 2:
                lines.append(RoadLine(road_class=properties.get("road_class"), points=points))
    return lines
