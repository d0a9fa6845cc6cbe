"""Curated Delta tables for search: which ones a query reads, local copies, reading in time order.

Shared by frame search (``dataops.frames.search``) and scene search (``dataops.scenes.search``).

First level of pushdown, the metadata store: per measurement that matches the query (vehicle,
recording overlapping [from, to], or one measurement id) the newest COMPLETED SCENES datastream
(a rerun replaces, never adds to, a measurement's scenes and frames) and every COMPLETED
LABELED datastream (label imports add up). Second level, the files: each Parquet file of a
table comes with the min/max of its time column from the Delta log, so a search in time order
reads the files in time order, a few at a time, and stops as soon as no unread file can hold an
earlier row (:func:`scan_in_order`); DuckDB then pushes the remaining predicates down to row
groups.

Tables are copied once into a local cache (``dataops.frames.delta``). A COMPLETED datastream's
tables never change (they are written whole before it completes), so the file list of a table
is remembered by (datastream id, etag): a search lists no blobs once it has seen a table.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb
import pyarrow as pa

from dataops.errors import InvalidInputError, NotFoundError
from dataops.frames.delta import ROW_GROUP_ROWS, download_delta_table, forget_cached_tables
from dataops.local_caches import CacheScope, register_cache, register_cache_dir
from dataops.models import Datastream, DatastreamState, DatastreamType, Measurement
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store import MeasurementQuery, MetadataStore
from dataops.store.protocol import MAX_PAGE_SIZE

__all__ = [
    "FRAMES_TABLE_STAT",
    "TABLE_CACHE_DIR",
    "LABELS_TABLE_STAT",
    "SCENES_TABLE_STAT",
    "IndexTables",
    "MeasurementTables",
    "Row",
    "TableFile",
    "TableSelection",
    "ns_ceiling",
    "ns_floor",
    "position_int",
    "scan_in_order",
]

TABLE_CACHE_DIR = register_cache_dir(Path(tempfile.gettempdir()) / "avops-frame-index")
"""The process's local copies of searched tables (an erasure drops its tables: they hold rows)."""

# Keys of Datastream.stats naming a table's prefix in the curated zone.
FRAMES_TABLE_STAT = "frames_table"
SCENES_TABLE_STAT = "scenes_table"
LABELS_TABLE_STAT = "labels_table"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Remembered file lists and datastream lists; a few hundred bytes to a few kB each.
_MAX_REMEMBERED_TABLES = 16_384
_MAX_REMEMBERED_MEASUREMENTS = 16_384
# Rows read by the first query of a scan (a file of unknown size counts a quarter); each
# further query reads twice as many.
_FIRST_BATCH_ROWS = 40_960
# A span holds at most its estimated rows and often fewer (two scenes of a type with a gap):
# a group of bounded files aims at twice the page.
_MATCH_MARGIN = 2

Row = tuple[Any, ...]


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _clamped(ns: int) -> int:
    # Query times reach years 1000-9999; int64 nanoseconds end in 2262. A bound past the
    # range selects the same rows as the range's end, and DuckDB binds it as BIGINT.
    return min(max(ns, _INT64_MIN), _INT64_MAX)


def ns_floor(value: datetime) -> int:
    """``value`` as UNIX nanoseconds (exact: no float on the way), clamped to int64."""
    return _clamped((value - _EPOCH) // _MICROSECOND * 1000)


def ns_ceiling(value: datetime) -> int:
    """The last nanosecond of ``value``'s microsecond: an inclusive upper bound.

    Query times have microsecond resolution; a row time inside that microsecond is "at" it.
    """
    return _clamped((value - _EPOCH) // _MICROSECOND * 1000 + 999)


@dataclass(frozen=True)
class LabelPageQuery:
    """What frame and scene search queries share: the label filters and the page."""

    labeled: bool | None = None
    """True: only hits with at least one label (inside them); False: only hits without."""
    label: str | None = None
    """Only hits with a label of this category (inside them)."""
    limit: int = 100
    continuation: str | None = None

    @property
    def wants_labels(self) -> bool:
        """Only hits with labels can match: tables without label files need not be read."""
        return self.labeled is True or self.label is not None


def bound_times(
    column: str,
    since: datetime | None,
    until: datetime | None,
    where: list[str],
    args: dict[str, Any],
) -> tuple[int | None, int | None]:
    """Adds the inclusive [since, until] bounds on ``column`` (``$from``, ``$to``) to ``where``
    and ``args``; returns them in nanoseconds (None where open)."""
    low = high = None
    if since is not None:
        low = ns_floor(since)
        where.append(f"{column} >= $from")
        args["from"] = low
    if until is not None:
        high = ns_ceiling(until)
        where.append(f"{column} <= $to")
        args["to"] = high
    return low, high


def resume_after(low: int | None, position: str) -> tuple[int, int]:
    """A continuation token's time ``position`` as an int64, and the lower time bound once
    the rows up to it are past (the later of ``low`` and the position)."""
    after = position_int(position)
    return after, after if low is None else max(low, after)


def position_int(text: str) -> int:
    """An int64 of a continuation token's position; InvalidInputError for anything else."""
    try:
        value = int(text)
    except ValueError:
        value = _INT64_MAX + 1
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidInputError(
            "continuation token does not belong to this query", field="continuation"
        )
    return value


@dataclass(frozen=True)
class TableFile:
    """One Parquet file of a cached table, with the range of its time column (None: unknown)."""

    path: str
    min_ns: int | None
    max_ns: int | None
    owner: str
    """The measurement whose table holds the file."""
    rows: int | None = None
    """Rows in the file, or after :meth:`narrowed` about how many a scan decodes."""
    matches: int | None = None
    """At most how many rows can match (set by :meth:`spanned`); None: unknown."""

    def narrowed(self, low: int | None, high: int | None) -> TableFile | None:
        """This file with its range cut to [low, high]; None if nothing is left."""
        if not self.may_hold(low, high):
            return None
        lows = [v for v in (self.min_ns, low) if v is not None]
        highs = [v for v in (self.max_ns, high) if v is not None]
        new_low = max(lows) if lows else None
        new_high = min(highs) if highs else None
        rows = self.rows
        if (
            rows is not None
            and None not in (self.min_ns, self.max_ns, new_low, new_high)
            and self.max_ns != self.min_ns
        ):
            # Row groups outside the range are skipped: the scan decodes about this many.
            kept = (float(new_high or 0) - (new_low or 0)) / (
                (self.max_ns or 0) - (self.min_ns or 0)
            )
            groups = max(1, math.ceil(kept * rows / ROW_GROUP_ROWS))
            rows = min(rows, groups * ROW_GROUP_ROWS)
        return replace(self, min_ns=new_low, max_ns=new_high, rows=rows)

    def spanned(self, low: int | None, high: int | None) -> TableFile | None:
        """:meth:`narrowed` to a span that every matching row lies in (a scene type's frames).

        Also estimates how many rows the span holds (time share of the file's rows), so that
        :func:`scan_in_order` reads no more such files at once than a page can use.
        """
        narrowed = self.narrowed(low, high)
        if narrowed is None or None in (self.rows, self.min_ns, self.max_ns):
            return narrowed
        if narrowed.min_ns is None or narrowed.max_ns is None or self.max_ns == self.min_ns:
            return narrowed
        share = (narrowed.max_ns - narrowed.min_ns) / ((self.max_ns or 0) - (self.min_ns or 0))
        return replace(narrowed, matches=max(1, math.ceil(share * (self.rows or 0)) + 1))

    def may_hold(self, low: int | None, high: int | None) -> bool:
        """Whether the file can have rows with a time in [low, high] (None: open end)."""
        if low is not None and self.max_ns is not None and self.max_ns < low:
            return False
        return not (high is not None and self.min_ns is not None and self.min_ns > high)


@dataclass(frozen=True)
class MeasurementTables:
    """The datastreams whose tables a search reads for one measurement."""

    measurement: Measurement
    scenes: Datastream
    labels: tuple[Datastream, ...]


@dataclass(frozen=True)
class TableSelection:
    """Which measurements a search covers; times: the recording overlaps [from, to]."""

    table_stat: str
    """Stat the SCENES datastream must have (``frames_table`` or ``scenes_table``)."""
    vehicle_id: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    measurement_id: str | None = None
    labeled_only: bool = False
    """Only measurements with at least one labels table (the query wants labeled rows)."""


def _overlaps(measurement: Measurement, selection: TableSelection) -> bool:
    if selection.vehicle_id is not None and measurement.vehicle_id != selection.vehicle_id:
        return False
    if selection.time_from is not None and measurement.recording_end < selection.time_from:
        return False
    return selection.time_to is None or measurement.recording_start <= selection.time_to


def _completed(
    datastreams: Sequence[Datastream], kind: DatastreamType, stat: str
) -> list[Datastream]:
    return [
        d
        for d in datastreams
        if d.type is kind and d.state is DatastreamState.COMPLETED and d.stats.get(stat)
    ]


def _stat_prefix(datastream: Datastream, stat: str) -> str:
    prefix = datastream.stats.get(stat)
    if not isinstance(prefix, str) or not prefix:
        raise InvalidInputError(
            f"datastream {datastream.id} has no table prefix", field=f"stats.{stat}"
        )
    return prefix


def _arrow(table: Any) -> pa.Table:
    # deltalake returns arro3 tables; pyarrow reads them through the Arrow C stream interface.
    return pa.table(table)


class _DatastreamsByMeasurement:
    """Each measurement's datastreams, kept current through the store's change feed.

    A search first reads the datastreams change feed from the last checkpoint (one query, as a
    rule empty) and forgets every measurement it names; a forgotten or new measurement is read
    from the store again. So the next search sees a new SCENES or LABELED datastream or a state
    change, and a quiet store costs one query per search instead of one per measurement.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: MetadataStore | None = None
        self._checkpoint: str | None = None
        self._entries: OrderedDict[str, list[Datastream]] = OrderedDict()

    def _refresh(self, store: MetadataStore) -> None:
        if store is not self._store:
            self._store, self._checkpoint = store, None
            self._entries.clear()
        while True:
            batch = store.read_changes("datastreams", self._checkpoint, max_items=MAX_PAGE_SIZE)
            for document in batch.documents:
                self._entries.pop(str(document.get("measurement_id")), None)
            self._checkpoint = batch.checkpoint
            if len(batch.documents) < MAX_PAGE_SIZE:
                return

    def forget(self, scope: CacheScope) -> int:
        """Drop the scope's measurements, and any whose datastreams include the scope's."""
        with self._lock:
            gone = [
                measurement_id
                for measurement_id, datastreams in self._entries.items()
                if measurement_id in scope.measurement_ids
                or any(d.id in scope.datastream_ids for d in datastreams)
            ]
            for measurement_id in gone:
                del self._entries[measurement_id]
        return len(gone)

    def lookup(
        self, store: MetadataStore, measurements: Iterator[Measurement]
    ) -> Iterator[tuple[Measurement, list[Datastream]]]:
        """``measurements`` with their datastreams, read from the store only when changed."""
        with self._lock:
            self._refresh(store)
            found = []
            for measurement in measurements:
                datastreams = self._entries.get(measurement.id)
                if datastreams is None:
                    datastreams = store.list_datastreams(measurement.id)
                    self._entries[measurement.id] = datastreams
                    while len(self._entries) > _MAX_REMEMBERED_MEASUREMENTS:
                        self._entries.popitem(last=False)
                else:
                    self._entries.move_to_end(measurement.id)
                found.append((measurement, datastreams))
        return iter(found)


class IndexTables:
    """Table selection, the local table cache and a DuckDB database; one per process.

    Registered in :mod:`dataops.local_caches`: an erasure drops its tables and file lists.
    """

    def __init__(self, zones: BlobZones, cache_dir: Path) -> None:
        self._zones = zones
        self._cache_dir = cache_dir
        self._datastreams = _DatastreamsByMeasurement()
        self._download_lock = threading.Lock()
        self._memo_lock = threading.Lock()
        self._memo: OrderedDict[tuple[str, str, str], tuple[Path, tuple[TableFile, ...]]] = (
            OrderedDict()
        )
        self._spans: OrderedDict[tuple[str, str, str], dict[str, tuple[int, int]]] = OrderedDict()
        self._db_lock = threading.Lock()
        self._db: duckdb.DuckDBPyConnection | None = None
        register_cache(self)

    def forget(self, scope: CacheScope) -> int:
        """Drop the scope's tables: remembered file lists and spans, local copies, and the
        DuckDB database whose metadata cache holds their Parquet footers."""
        dropped = self._datastreams.forget(scope)
        with self._memo_lock:
            for memo in (self._memo, self._spans):
                gone = [
                    key
                    for key in memo
                    if key[0] in scope.datastream_ids
                    or scope.covers_path(Zone.CURATED.value, key[2])
                ]
                for key in gone:
                    del memo[key]
                dropped += len(gone)
        with self._download_lock:
            dropped += forget_cached_tables(self._cache_dir, scope)
        if dropped:
            with self._db_lock:
                # A query running now keeps its own reference; the next one opens afresh.
                self._db = None
        return dropped

    # ------------------------------------------------------------------ store (first level)

    def _measurements(
        self, store: MetadataStore, selection: TableSelection
    ) -> Iterator[Measurement]:
        if selection.measurement_id is not None:
            try:
                measurement = store.get_measurement(selection.measurement_id)
            except NotFoundError:
                return
            if _overlaps(measurement, selection):
                yield measurement
            return
        continuation: str | None = None
        while True:
            page = store.query_measurements(
                MeasurementQuery(
                    vehicle_id=selection.vehicle_id,
                    recorded_from=selection.time_from,
                    recorded_to=selection.time_to,
                    limit=MAX_PAGE_SIZE,
                    continuation=continuation,
                )
            )
            yield from page.items
            continuation = page.continuation
            if continuation is None:
                return

    def select(self, store: MetadataStore, selection: TableSelection) -> list[MeasurementTables]:
        """The tables of every measurement the selection covers (one store read each)."""
        chosen: list[MeasurementTables] = []
        measurements = self._measurements(store, selection)
        for measurement, datastreams in self._datastreams.lookup(store, measurements):
            scenes = _completed(datastreams, DatastreamType.SCENES, selection.table_stat)
            if not scenes:
                continue
            labels = _completed(datastreams, DatastreamType.LABELED, LABELS_TABLE_STAT)
            if selection.labeled_only and not labels:
                continue
            chosen.append(
                MeasurementTables(
                    measurement=measurement,
                    scenes=max(scenes, key=lambda d: (d.created_at, d.id)),
                    labels=tuple(sorted(labels, key=lambda d: d.id)),
                )
            )
        return chosen

    # ------------------------------------------------------------------ files (second level)

    def files(self, datastream: Datastream, stat: str, time_column: str) -> tuple[TableFile, ...]:
        """The Parquet files of the table ``stats[stat]`` of ``datastream``, cached locally."""
        prefix = _stat_prefix(datastream, stat)
        key = (datastream.id, datastream.etag or "", prefix)
        with self._memo_lock:
            remembered = self._memo.get(key)
            if remembered is not None:
                self._memo.move_to_end(key)
        # A cache directory cleaned behind our back (tmp reapers) is downloaded again.
        if remembered is not None and remembered[0].is_dir():
            return remembered[1]
        with self._download_lock:  # one download at a time per process
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            table = download_delta_table(self._zones, Zone.CURATED, prefix, self._cache_dir)
        root = Path(unquote(table.table_uri.removeprefix("file://")))
        actions = _arrow(table.get_add_actions(flatten=True))
        names = actions.column("path").to_pylist()
        counts = actions.column("num_records").to_pylist()
        low_column, high_column = f"min.{time_column}", f"max.{time_column}"
        lows = (
            actions.column(low_column).to_pylist()
            if low_column in actions.column_names
            else [None] * len(names)
        )
        highs = (
            actions.column(high_column).to_pylist()
            if high_column in actions.column_names
            else [None] * len(names)
        )
        found = tuple(
            TableFile(
                path=str(root / unquote(name)),
                min_ns=None if low is None else int(low),
                max_ns=None if high is None else int(high),
                owner=datastream.measurement_id,
                rows=None if count is None else int(count),
            )
            for name, low, high, count in zip(names, lows, highs, counts, strict=True)
        )
        with self._memo_lock:
            self._memo[key] = (root, found)
            while len(self._memo) > _MAX_REMEMBERED_TABLES:
                self._memo.popitem(last=False)
        return found

    def label_files(self, chosen: Sequence[MeasurementTables]) -> dict[str, list[TableFile]]:
        """Measurement id -> the Parquet files of all its labels tables (``time_ns`` ranges)."""
        return {
            tables.measurement.id: [
                file
                for labeled in tables.labels
                for file in self.files(labeled, LABELS_TABLE_STAT, "time_ns")
            ]
            for tables in chosen
        }

    def scene_spans(self, datastream: Datastream) -> dict[str, tuple[int, int]] | None:
        """Scene type -> (first start, last end) of a SCENES datastream; None without a table.

        detect_scenes gives a frame a scene type exactly when its time lies in such a scene, so
        a search by scene type reads only this span of the frames table.
        """
        if not datastream.stats.get(SCENES_TABLE_STAT):
            return None
        key = (datastream.id, datastream.etag or "", "scene spans")
        with self._memo_lock:
            remembered = self._spans.get(key)
        if remembered is not None:
            return remembered
        paths = [file.path for file in self.files(datastream, SCENES_TABLE_STAT, "start_ns")]
        rows = (
            self.query(
                "SELECT type, min(start_ns), max(end_ns) FROM read_parquet($files) GROUP BY type",
                {"files": paths},
            )
            if paths
            else []
        )
        spans = {str(kind): (int(low), int(high)) for kind, low, high in rows}
        with self._memo_lock:
            self._spans[key] = spans
            while len(self._spans) > _MAX_REMEMBERED_TABLES:
                self._spans.popitem(last=False)
        return spans

    # ------------------------------------------------------------------ DuckDB

    def _database(self) -> duckdb.DuckDBPyConnection:
        with self._db_lock:
            if self._db is None:
                self._db = duckdb.connect()
                # Parquet footers are read once per file, not once per query.
                self._db.execute("SET parquet_metadata_cache = true")
            return self._db

    def query(self, sql: str, args: dict[str, Any]) -> list[Row]:
        """Run ``sql`` (constant text; values only as $parameters) on a fresh cursor."""
        with self._database().cursor() as cursor:
            return [tuple(row) for row in cursor.execute(sql, args).fetchall()]

    def query_records(self, sql: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Like :meth:`query`, rows as dicts; through Arrow, which converts nested columns
        (lists, maps: given as lists of (key, value) pairs) about twice as fast."""
        with self._database().cursor() as cursor:
            records: list[dict[str, Any]] = (
                cursor.sql(sql, params=args).to_arrow_table().to_pylist()
            )
            return records


def scan_in_order(
    files: Sequence[TableFile],
    run: Callable[[Sequence[TableFile], int | None], list[Row]],
    *,
    want: int,
    key: Callable[[Row], tuple[Any, ...]],
) -> list[Row]:
    """The first ``want`` rows in ``key`` order over ``files``, reading as few files as it can.

    ``key(row)[0]`` is the row's time, the column ``files`` carry ranges of. ``run(group,
    ceiling)`` returns the first ``want`` rows of ``group`` in ``key`` order, only rows with a
    time <= ``ceiling`` when that is not None.
    """
    # Unknown ranges first: such a file may hold the earliest row.
    pending = sorted(files, key=lambda f: (f.min_ns is not None, f.min_ns or 0, f.path))
    best: list[Row] = []
    budget = _FIRST_BATCH_ROWS
    index = 0
    while index < len(pending):
        ceiling = key(best[-1])[0] if len(best) >= want else None
        group: list[TableFile] = []
        spent = 0
        # A group of files whose matches are bounded stops once they can fill the page.
        can_match: int | None = 0
        while index < len(pending) and (not group or spent < budget):
            if group and can_match is not None and can_match >= want * _MATCH_MARGIN:
                break
            rows = pending[index].rows
            spent += _FIRST_BATCH_ROWS // 4 if rows is None else rows
            matches = pending[index].matches
            can_match = None if can_match is None or matches is None else can_match + matches
            group.append(pending[index])
            index += 1
        if ceiling is not None:
            group = [f for f in group if f.min_ns is None or f.min_ns <= ceiling]
            if not group:
                # Sorted by start: every file left starts after the last row kept.
                break
        best = sorted([*best, *run(group, ceiling)], key=key)[:want]
        budget *= 2
    return best
