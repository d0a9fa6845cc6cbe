"""Scene search: ``GET /api/scenes`` answered from the scenes Delta tables of SCENES datastreams.

The same two levels of pushdown as frame search (``dataops.frames.tables``): the metadata store
picks the newest COMPLETED SCENES datastream of each matching measurement (vehicle, one
measurement id, recording overlapping [from, to]), DuckDB scans those tables' Parquet files in
start-time order with the remaining predicates (type, vehicle, measurement, start in [from,
to], labels, the page's keyset position). Scenes of an older SCENES datastream of a measurement
(before a rerun) are not found: the newest run replaces them.

Labels: a scene has labels when a label row of its measurement, in any COMPLETED LABELED
datastream, has a time within [start, end].

Pages are keyset pages on (start_ns, scene id) with an opaque continuation token bound to the
filters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataops.frames.tables import (
    SCENES_TABLE_STAT,
    IndexTables,
    LabelPageQuery,
    Row,
    TableFile,
    TableSelection,
    bound_times,
    resume_after,
    scan_in_order,
)
from dataops.models import Scene
from dataops.store import MetadataStore
from dataops.store.continuation import decode_token, encode_token, fingerprint
from dataops.store.protocol import Page

__all__ = ["SceneSearch", "SceneTableQuery"]

_COLUMNS = (
    "scene_id",
    "type",
    "vehicle_id",
    "measurement_id",
    "datastream_id",
    "start_ns",
    "end_ns",
    "confidence",
    "attributes",
)
_START, _ID = _COLUMNS.index("start_ns"), _COLUMNS.index("scene_id")
_ANY_LABEL = (
    "EXISTS (SELECT 1 FROM read_parquet($labels) AS l WHERE l.measurement_id = s.measurement_id "
    "AND l.time_ns BETWEEN s.start_ns AND s.end_ns{category})"
)


@dataclass(frozen=True)
class SceneTableQuery(LabelPageQuery):
    """Filters (AND); ``start_from``/``start_to`` bound the scene start, inclusive."""

    type: str | None = None
    vehicle_id: str | None = None
    measurement_id: str | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None


def _key(row: Row) -> tuple[int, str]:
    return (int(row[_START]), str(row[_ID]))


def _utc(ns: int) -> datetime:
    # As detect_scenes stores them: datetimes keep microseconds, the exact ns are attributes.
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
        microsecond=(ns % 1_000_000_000) // 1000
    )


def _scene(row: Row) -> Scene:
    values = dict(zip(_COLUMNS, row, strict=True))
    attributes = json.loads(values["attributes"]) if values["attributes"] else {}
    return Scene(
        id=values["scene_id"],
        measurement_id=values["measurement_id"],
        datastream_id=values["datastream_id"],
        vehicle_id=values["vehicle_id"],
        type=values["type"],
        start=_utc(int(values["start_ns"])),
        end=_utc(int(values["end_ns"])),
        confidence=1.0 if values["confidence"] is None else float(values["confidence"]),
        attributes=attributes if isinstance(attributes, dict) else {},
    )


class SceneSearch:
    """Searches the scenes tables; one per process (its tables own the cache)."""

    def __init__(self, tables: IndexTables) -> None:
        self._tables = tables

    def search(self, store: MetadataStore, query: SceneTableQuery) -> Page[Scene]:
        """One page of scenes in (start, id) order."""
        filters = fingerprint(
            query.type,
            query.vehicle_id,
            query.measurement_id,
            query.start_from,
            query.start_to,
            query.labeled,
            query.label,
        )
        where = ["TRUE"]
        args: dict[str, Any] = {"limit": query.limit + 1}
        for condition, name, value in (
            ("s.type = $type", "type", query.type),
            ("s.vehicle_id = $vehicle", "vehicle", query.vehicle_id),
            ("s.measurement_id = $measurement", "measurement", query.measurement_id),
        ):
            if value is not None:
                where.append(condition)
                args[name] = value
        low, high = bound_times("s.start_ns", query.start_from, query.start_to, where, args)
        if query.continuation is not None:
            start_ns, scene_id = decode_token(query.continuation, "scenes", filters, 2)
            after, low = resume_after(low, start_ns)
            where.append("(s.start_ns, s.scene_id) > ($after_s, $after_id)")
            args.update(after_s=after, after_id=scene_id)
        wants_labels = query.wants_labels
        chosen = self._tables.select(
            store,
            TableSelection(
                SCENES_TABLE_STAT,
                vehicle_id=query.vehicle_id,
                time_from=query.start_from,
                time_to=query.start_to,
                measurement_id=query.measurement_id,
                labeled_only=wants_labels,
            ),
        )
        files = [
            file
            for tables in chosen
            for file in self._tables.files(tables.scenes, SCENES_TABLE_STAT, "start_ns")
            if file.may_hold(low, high)
        ]
        if not files:
            return Page(items=[], continuation=None)
        label_files = self._tables.label_files(chosen)

        def run(group: Sequence[TableFile], ceiling: int | None) -> list[Row]:
            labels = sorted({label.path for file in group for label in label_files[file.owner]})
            if wants_labels and not labels:
                return []
            conditions = list(where)
            values = {**args, "files": [file.path for file in group]}
            if ceiling is not None:
                conditions.append("s.start_ns <= $ceiling")
                values["ceiling"] = ceiling
            label_conditions = _label_conditions(query) if labels else []
            if label_conditions:
                # DuckDB refuses parameters the text does not use: only bound when used.
                conditions.extend(label_conditions)
                values["labels"] = labels
                if query.label is not None:
                    values["label"] = query.label
            return self._tables.query(_scenes_sql(conditions), values)

        rows = scan_in_order(files, run, want=query.limit + 1, key=_key)
        items = [_scene(row) for row in rows[: query.limit]]
        token = None
        if len(rows) > query.limit:
            last = rows[query.limit - 1]
            token = encode_token("scenes", filters, [str(last[_START]), str(last[_ID])])
        return Page(items=items, continuation=token)


def _label_conditions(query: SceneTableQuery) -> list[str]:
    conditions = []
    if query.labeled is True:
        conditions.append(_ANY_LABEL.format(category=""))
    elif query.labeled is False:
        conditions.append("NOT " + _ANY_LABEL.format(category=""))
    if query.label is not None:
        conditions.append(_ANY_LABEL.format(category=" AND l.category = $label"))
    return conditions


def _scenes_sql(where: list[str]) -> str:
    """The query of one group of files; only constant fragments are joined in."""
    columns = ", ".join(f"s.{name}" for name in _COLUMNS)
    return (
        f"SELECT {columns} FROM read_parquet($files) AS s "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY s.start_ns, s.scene_id LIMIT $limit"
    )
