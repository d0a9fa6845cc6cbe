"""Frame search: ``GET /api/frames`` answered from the frame index Delta tables.

Two levels of pushdown (``dataops.frames.tables``): the metadata store picks the tables (the
newest COMPLETED SCENES datastream of each measurement of the vehicle that overlaps [from, to],
and the measurement's labels tables), then DuckDB scans their Parquet files in time order with
the remaining predicates (time, object class, scene type, labels, the page's keyset position),
which it pushes down to row groups.

Labels: every row carries ``label_categories``, the sorted categories of all label rows with
the frame's (measurement_id, time_ns) in any COMPLETED LABELED datastream of its measurement.

Pages are keyset pages on (time_ns, datastream_id, frame) with an opaque continuation token
bound to the filters, like the store's listings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dataops.frames.tables import (
    FRAMES_TABLE_STAT,
    IndexTables,
    LabelPageQuery,
    MeasurementTables,
    Row,
    TableFile,
    TableSelection,
    bound_times,
    position_int,
    resume_after,
    scan_in_order,
)
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.store.continuation import decode_token, encode_token, fingerprint
from dataops.store.protocol import Page

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
_SELECTED = ", ".join(_COLUMNS)
# The scan returns keys only: (time, datastream, frame) order, the measurement, the labels.
_KEYS = "f.time_ns, f.datastream_id, f.frame, f.measurement_id"
_K_TIME, _K_DATASTREAM, _K_FRAME, _K_MEASUREMENT, _K_LABELS = range(5)
_NO_LABELS = "CAST([] AS VARCHAR[])"
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


@dataclass(frozen=True)
class FrameQuery(LabelPageQuery):
    """Filters (AND); times bound the frame time, inclusive."""

    vehicle_id: str | None = None
    object_class: str | None = None
    scene_type: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None


@dataclass(frozen=True)
class _Plan:
    """A query as SQL conditions on one file (``f``), their values and its time bounds."""

    filters: str
    where: list[str]
    args: dict[str, Any]
    low: int | None
    high: int | None


def _plan(query: FrameQuery) -> _Plan:
    filters = fingerprint(
        query.vehicle_id,
        query.object_class,
        query.scene_type,
        query.time_from,
        query.time_to,
        query.labeled,
        query.label,
    )
    where = ["TRUE"]
    args: dict[str, Any] = {"limit": query.limit + 1}
    if query.vehicle_id is not None:
        where.append("f.vehicle_id = $vehicle")
        args["vehicle"] = query.vehicle_id
    low, high = bound_times("f.time_ns", query.time_from, query.time_to, where, args)
    if query.object_class is not None:
        where.append("list_contains(f.object_classes, $object)")
        args["object"] = query.object_class
    if query.scene_type is not None:
        where.append("list_contains(f.scene_types, $scene_type)")
        args["scene_type"] = query.scene_type
    if query.continuation is not None:
        time_ns, datastream_id, frame = decode_token(query.continuation, "frames", filters, 3)
        after, low = resume_after(low, time_ns)
        where.append("(f.time_ns, f.datastream_id, f.frame) > ($after_t, $after_d, $after_f)")
        args.update(after_t=after, after_d=datastream_id, after_f=position_int(frame))
    return _Plan(filters=filters, where=where, args=args, low=low, high=high)


def _key(row: Row) -> tuple[int, str, int]:
    return (int(row[_K_TIME]), str(row[_K_DATASTREAM]), int(row[_K_FRAME]))


class FrameSearch:
    """Searches the frame index; one per process (it owns the table cache)."""

    def __init__(self, zones: BlobZones, cache_dir: Path) -> None:
        self.tables = IndexTables(zones, cache_dir)
        """Shared with scene search, so both read one cache."""

    def search(self, store: MetadataStore, query: FrameQuery) -> Page[dict[str, Any]]:
        """One page of frames in (time, datastream, frame) order."""
        plan = _plan(query)
        where, args = plan.where, plan.args
        wants_labels = query.wants_labels
        chosen = self.tables.select(
            store,
            TableSelection(
                FRAMES_TABLE_STAT,
                vehicle_id=query.vehicle_id,
                time_from=query.time_from,
                time_to=query.time_to,
                labeled_only=wants_labels,
            ),
        )
        label_files = self.tables.label_files(chosen)
        files = self._candidates(chosen, query, plan, label_files)
        if not files:
            return Page(items=[], continuation=None)

        def run(group: Sequence[TableFile], ceiling: int | None) -> list[Row]:
            labels = sorted({label.path for file in group for label in label_files[file.owner]})
            if wants_labels and not labels:
                return []
            conditions = list(where)
            values = {**args}
            if ceiling is not None:
                conditions.append("f.time_ns <= $ceiling")
                values["ceiling"] = ceiling
            scans = []
            for number, file in enumerate(group):
                # Each file with its own time range: row-group statistics skip the rest.
                scans.append(
                    f"SELECT {_KEYS} FROM read_parquet($file_{number}) AS f "  # noqa: S608
                    f"WHERE {' AND '.join(conditions)} "
                    f"AND f.time_ns BETWEEN $low_{number} AND $high_{number}"
                )
                values.update(
                    {
                        f"file_{number}": file.path,
                        f"low_{number}": _INT64_MIN if file.min_ns is None else file.min_ns,
                        f"high_{number}": _INT64_MAX if file.max_ns is None else file.max_ns,
                    }
                )
            return self.tables.query(
                _frames_sql(" UNION ALL ".join(scans), labels, query),
                values | _label_args(labels, query),
            )

        keys = scan_in_order(files, run, want=query.limit + 1, key=_key)
        page_files: dict[str, list[str]] = {}
        for file in files:
            page_files.setdefault(file.owner, []).append(file.path)
        items = self._rows(keys[: query.limit], page_files)
        token = None
        if len(keys) > query.limit:
            last = items[-1]
            token = encode_token(
                "frames",
                plan.filters,
                [str(last["time_ns"]), str(last["datastream_id"]), str(last["frame"])],
            )
        return Page(items=items, continuation=token)

    def _candidates(
        self,
        chosen: list[MeasurementTables],
        query: FrameQuery,
        plan: _Plan,
        label_files: dict[str, list[TableFile]],
    ) -> list[TableFile]:
        """The files that can hold matching frames, each cut to where they can be."""
        files: list[TableFile] = []
        for tables in chosen:
            span = self._span(tables, query, label_files[tables.measurement.id])
            if span is None:
                continue
            for file in self.tables.files(tables.scenes, FRAMES_TABLE_STAT, "time_ns"):
                # A scene type's span bounds its matching frames; a label span does not.
                bounded = query.scene_type is not None
                narrowed = file.spanned(*span) if bounded else file.narrowed(*span)
                narrowed = None if narrowed is None else narrowed.narrowed(plan.low, plan.high)
                if narrowed is not None:
                    files.append(narrowed)
        return files

    def _span(
        self, tables: MeasurementTables, query: FrameQuery, labels: list[TableFile]
    ) -> tuple[int | None, int | None] | None:
        """Where in time a measurement's matching frames can be; None: nowhere."""
        low: int | None = None
        high: int | None = None
        if query.scene_type is not None:
            spans = self.tables.scene_spans(tables.scenes)
            if spans is not None:
                if query.scene_type not in spans:
                    return None
                low, high = spans[query.scene_type]
        wants_labels = query.wants_labels
        known = all(label.min_ns is not None and label.max_ns is not None for label in labels)
        if wants_labels and labels and known:
            # Labeled frames lie where the labels are.
            label_low = min(label.min_ns or 0 for label in labels)
            label_high = max(label.max_ns or 0 for label in labels)
            low = label_low if low is None else max(low, label_low)
            high = label_high if high is None else min(high, label_high)
        if low is not None and high is not None and low > high:
            return None
        return low, high

    def _rows(self, keys: list[Row], files: dict[str, list[str]]) -> list[dict[str, Any]]:
        """The whole rows of a page's keys: per table, only the row groups of its frames.

        The scan decodes only the key and filter columns; the wide ones (``paths``) are read
        here for the page's frame range of each table, which row-group statistics narrow down.
        """
        if not keys:
            return []
        spans: dict[tuple[str, str], list[int]] = {}
        for key in keys:
            spans.setdefault((str(key[_K_MEASUREMENT]), str(key[_K_DATASTREAM])), []).append(
                int(key[_K_FRAME])
            )
        parts, values = [], {}
        for number, ((measurement_id, datastream_id), frames) in enumerate(sorted(spans.items())):
            parts.append(
                f"SELECT {_SELECTED} FROM read_parquet($files_{number}) "  # noqa: S608
                f"WHERE datastream_id = $datastream_{number} "
                f"AND frame BETWEEN $low_{number} AND $high_{number} "
                # The range prunes row groups; the list keeps Python from converting the rows
                # in between (nested columns make that the costly part).
                f"AND list_contains($frames_{number}, frame)"
            )
            values.update(
                {
                    f"files_{number}": files[measurement_id],
                    f"datastream_{number}": datastream_id,
                    f"low_{number}": min(frames),
                    f"high_{number}": max(frames),
                    f"frames_{number}": frames,
                }
            )
        found = {
            (str(row["datastream_id"]), int(row["frame"])): row
            for row in self.tables.query_records(" UNION ALL ".join(parts), values)
        }
        items = []
        for key in keys:
            row = found[(str(key[_K_DATASTREAM]), int(key[_K_FRAME]))]
            items.append(
                {
                    **row,
                    "paths": dict(row["paths"] or []),
                    "label_categories": list(key[_K_LABELS] or []),
                }
            )
        return items


def _label_args(labels: list[str], query: FrameQuery) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if labels:
        values["labels"] = labels
    if labels and query.label is not None:
        values["label"] = query.label
    return values


def _frames_sql(scans: str, labels: list[str], query: FrameQuery) -> str:
    """The key scan of one group of files (``scans``: UNION ALL of per-file selects).

    Only constant fragments are joined in; every value is a bound $parameter.
    """
    order = "ORDER BY k.time_ns, k.datastream_id, k.frame LIMIT $limit"
    if not labels:
        # The caller skips groups without labels when the query wants labeled frames.
        return f"SELECT k.*, {_NO_LABELS} AS label_categories FROM ({scans}) AS k {order}"  # noqa: S608
    conditions = ["TRUE"]
    if query.labeled is True:
        conditions.append("l.measurement_id IS NOT NULL")
    elif query.labeled is False:
        conditions.append("l.measurement_id IS NULL")
    if query.label is not None:
        conditions.append("list_contains(l.label_categories, $label)")
    # One row per labeled frame, so the join never multiplies frames.
    return (
        "WITH l AS (SELECT measurement_id, time_ns, "  # noqa: S608  # constant fragments only
        "list_sort(list_distinct(list(category))) AS label_categories "
        "FROM read_parquet($labels) GROUP BY measurement_id, time_ns) "
        f"SELECT k.*, coalesce(l.label_categories, {_NO_LABELS}) AS label_categories "
        f"FROM ({scans}) AS k LEFT JOIN l "
        "ON l.measurement_id = k.measurement_id AND l.time_ns = k.time_ns "
        f"WHERE {' AND '.join(conditions)} {order}"
    )
