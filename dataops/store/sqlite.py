"""The embedded metadata store: one SQLite file in WAL mode, safe for several processes.

Every read-modify-write runs inside ``BEGIN IMMEDIATE``, which takes the database's write lock
before the read, so an etag check and the write that depends on it are atomic across threads
and processes. SQL text is fixed: filters pick among constant fragments and every value is a
bound parameter.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

from dataops.errors import ConflictError, EtagMismatchError, InvalidInputError, NotFoundError
from dataops.models import (
    Datastream,
    DatastreamType,
    FileRecord,
    Measurement,
    MeasurementState,
    Scene,
)
from dataops.models.common import utc_now
from dataops.sqlite_db import ThreadConnections, busy_is_retryable
from dataops.store import query_rules as rules
from dataops.store.continuation import Keyset, decode_checkpoint, encode_checkpoint
from dataops.store.documents import dump_json, load, load_json
from dataops.store.measurement_files import checked_measurement_files, split_embedded_files
from dataops.store.protocol import (
    ChangeBatch,
    ChangeFeedContainer,
    MeasurementQuery,
    Page,
    SceneQuery,
)
from dataops.store.shared_operations import DatastreamChange, SharedOperations
from dataops.store.sqlite_schema import ensure_schema

__all__ = ["SqliteStore"]

_BACKEND = "sqlite"

# One fixed statement per change-feed container; the container name is allow-listed first.
_CHANGES_SQL: dict[str, str] = {
    name: (
        f"SELECT c.seq, d.etag, d.doc FROM changes AS c JOIN {name} AS d ON d.id = c.doc_id "  # noqa: S608  # constant table names
        f"WHERE c.container = '{name}' AND c.seq > ? ORDER BY c.seq LIMIT ?"
    )
    for name in ("measurements", "datastreams", "scenes")
}

# Each filter of a listing (query_rules) -> its condition, one ``?`` for the value.
_MEASUREMENT_CONDITIONS = {
    "vehicle_id": "vehicle_id = ?",
    "tag": "EXISTS (SELECT 1 FROM measurement_tags AS t "
    "WHERE t.tag = ? AND t.measurement_id = measurements.id)",
    "state": "state = ?",
    # Overlap: the recording touches [recorded_from, recorded_to].
    "recorded_from": "end_key >= ?",
    "recorded_to": "start_key <= ?",
}
_SCENE_CONDITIONS = {
    "type": "type = ?",
    "vehicle_id": "vehicle_id = ?",
    "measurement_id": "measurement_id = ?",
    "start_from": "start_key >= ?",
    "start_to": "start_key <= ?",
}
# The one statement per document table that reads a document by id.
_BY_ID = {
    table: f"SELECT etag, doc FROM {table} WHERE id = ?"  # noqa: S608  # constant table names
    for table in ("measurements", "datastreams")
}

T = TypeVar("T")


def _new_etag() -> str:
    return uuid.uuid4().hex


class SqliteStore(SharedOperations):
    """MetadataStore on a SQLite file (see module docstring for the concurrency model)."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = ThreadConnections(
            self.path, busy_timeout_ms=busy_timeout_ms, what="metadata store"
        )
        with _busy_is_retryable():
            ensure_schema(self._conn())

    # connections and transactions -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        return self._db.conn()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.write()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with _busy_is_retryable():
            return self._conn().execute(sql, params).fetchall()

    @staticmethod
    def _touch(conn: sqlite3.Connection, container: ChangeFeedContainer, doc_id: str) -> None:
        # Moving the row to a fresh sequence number is what keeps the latest version only.
        conn.execute("DELETE FROM changes WHERE container = ? AND doc_id = ?", (container, doc_id))
        conn.execute("INSERT INTO changes (container, doc_id) VALUES (?, ?)", (container, doc_id))

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        self._db.close()

    # measurements -----------------------------------------------------------------------

    def create_measurement(
        self, measurement: Measurement, files: Sequence[FileRecord] = ()
    ) -> Measurement:
        """Insert with its file records (one transaction); same id and content returns the
        stored one; other content: ConflictError."""
        records = checked_measurement_files(measurement, files)
        with self._write() as conn:
            row = _row(conn, "measurements", measurement.id, required=False)
            if row is not None:
                return rules.check_measurement_recreate(_measurement(row), measurement)
            etag = _new_etag()
            conn.execute(
                "INSERT INTO measurements (id, vehicle_id, start_key, end_key, state, etag, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    measurement.id,
                    measurement.vehicle_id,
                    rules.time_key(measurement.recording_start),
                    rules.time_key(measurement.recording_end),
                    measurement.state.value,
                    etag,
                    dump_json(measurement),
                ),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO measurement_tags (tag, measurement_id) VALUES (?, ?)",
                [(tag, measurement.id) for tag in measurement.tags],
            )
            _insert_measurement_files(conn, measurement.id, records)
            self._touch(conn, "measurements", measurement.id)
        return measurement.model_copy(update={"etag": etag})

    def get_measurement(self, measurement_id: str) -> Measurement:
        """Raise NotFoundError when absent."""
        with _busy_is_retryable():
            row = _row(self._conn(), "measurements", measurement_id)
        return _measurement(row)

    def set_measurement_state(
        self, measurement_id: str, state: MeasurementState, expected_etag: str | None = None
    ) -> Measurement:
        """Set the state; with ``expected_etag`` only if the document is unchanged since."""
        state = MeasurementState(state)
        with self._write() as conn:
            row = _row(conn, "measurements", measurement_id)
            if expected_etag is not None and row[0] != expected_etag:
                raise EtagMismatchError(f"measurement {measurement_id!r} changed since it was read")
            # The rewritten document has no file list: an old one's files move out first.
            current = _move_embedded_files(conn, measurement_id, row)
            updated = current.model_copy(update={"state": state})
            etag = _new_etag()
            conn.execute(
                "UPDATE measurements SET state = ?, etag = ?, doc = ? WHERE id = ?",
                (state.value, etag, dump_json(updated), measurement_id),
            )
            self._touch(conn, "measurements", measurement_id)
        return updated.model_copy(update={"etag": etag})

    def list_measurement_files(
        self, measurement_id: str, limit: int = 100, continuation: str | None = None
    ) -> Page[FileRecord]:
        """The manifest's file records of a measurement in path order; NotFoundError if absent."""
        listing = rules.checked_measurement_files_listing(measurement_id, limit, continuation)
        with _busy_is_retryable():
            row = _row(self._conn(), "measurements", measurement_id)
        if _measurement_document(row)[1] is not None:
            with self._write() as conn:
                latest = _row(conn, "measurements", measurement_id)
                _move_embedded_files(conn, measurement_id, latest)
        return self._file_page(listing, "measurement_files", "measurement_id")

    def _keyset_page(
        self,
        listing: rules.CheckedListing,
        keyset: Keyset,
        *,
        table: str,
        fields: str,
        conditions: dict[str, str],
        item: Callable[[Any], T],
    ) -> Page[T]:
        """One page of ``fields`` from ``table`` matching the listing's filters, in key order.

        ``conditions`` maps each filter name to its SQL with one ``?`` (constant fragments only).
        """
        clauses = [conditions[name] for name, _ in listing.set_filters()]
        params: list[Any] = [value for _, value in listing.set_filters()]
        position = keyset.position(listing.continuation)
        if position is not None:
            clauses.append(keyset.after_clause(["?"] * len(position)))
            # Positional: every key value but the last stands twice in the clause.
            params += [value for value in position[:-1] for _ in range(2)] + [position[-1]]
        where = " AND ".join(clauses) or "1 = 1"
        arity = len(keyset.columns)
        rows = self._read(
            f"SELECT {fields}, {', '.join(keyset.columns)} FROM {table} WHERE {where} "  # noqa: S608  # constant fragments only
            f"ORDER BY {keyset.order_by()} LIMIT ?",
            [*params, listing.limit + 1],
        )
        return keyset.page(rows, listing.limit, item=item, key=lambda row: list(row[-arity:]))

    def query_measurements(self, query: MeasurementQuery) -> Page[Measurement]:
        """Newest recording first (ties by id); limit capped at MAX_PAGE_SIZE."""
        listing = rules.checked_measurement_query(query)
        return self._keyset_page(
            listing,
            listing.keyset(("start_key", "id"), descending=True),
            table="measurements",
            fields="etag, doc",
            conditions=_MEASUREMENT_CONDITIONS,
            item=_measurement,
        )

    # datastreams ------------------------------------------------------------------------

    def create_datastream(self, datastream: Datastream) -> Datastream:
        """Insert; the same id for the same product returns the stored one, else ConflictError."""
        with self._write() as conn:
            row = _row(conn, "datastreams", datastream.id, required=False)
            if row is not None:
                return rules.check_datastream_recreate(
                    load_json(Datastream, row[1], row[0]), datastream
                )
            exists = conn.execute(
                "SELECT 1 FROM measurements WHERE id = ?", (datastream.measurement_id,)
            ).fetchone()
            if exists is None:
                raise NotFoundError(
                    f"measurement {datastream.measurement_id!r} of datastream "
                    f"{datastream.id!r} not found"
                )
            etag = _new_etag()
            conn.execute(
                "INSERT INTO datastreams (id, measurement_id, type, state, created_key, etag, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    datastream.id,
                    datastream.measurement_id,
                    datastream.type.value,
                    datastream.state.value,
                    rules.time_key(datastream.created_at),
                    etag,
                    dump_json(datastream),
                ),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO datastream_sources (datastream_id, source_id) VALUES (?, ?)",
                [(datastream.id, source) for source in datastream.sources],
            )
            self._touch(conn, "datastreams", datastream.id)
        return datastream.model_copy(update={"etag": etag})

    def get_datastream(self, datastream_id: str) -> Datastream:
        """Raise NotFoundError when absent."""
        with _busy_is_retryable():
            row = _row(self._conn(), "datastreams", datastream_id)
        return load_json(Datastream, row[1], row[0])

    def list_datastreams(
        self,
        measurement_id: str,
        type: DatastreamType | None = None,  # noqa: A002  # the protocol's parameter name
    ) -> list[Datastream]:
        """Datastreams of a measurement, oldest first, optionally of one type."""
        rules.check_filter(measurement_id, field="measurement_id")
        type_value = rules.check_filter(type, field="type")
        if type_value is None:
            rows = self._read(
                "SELECT etag, doc FROM datastreams WHERE measurement_id = ? "
                "ORDER BY created_key, id",
                (measurement_id,),
            )
        else:
            rows = self._read(
                "SELECT etag, doc FROM datastreams WHERE measurement_id = ? AND type = ? "
                "ORDER BY created_key, id",
                (measurement_id, type_value),
            )
        return [load_json(Datastream, row[1], row[0]) for row in rows]

    def _rewrite_datastream(
        self, datastream_id: str, change: DatastreamChange, expected_etag: str
    ) -> Datastream:
        # Read, check (``change`` compares the etag) and write under the write lock: atomic.
        with self._write() as conn:
            row = _row(conn, "datastreams", datastream_id)
            updated = change(load_json(Datastream, row[1], row[0]))
            etag = _new_etag()
            conn.execute(
                "UPDATE datastreams SET state = ?, etag = ?, doc = ? WHERE id = ?",
                (updated.state.value, etag, dump_json(updated), datastream_id),
            )
            self._touch(conn, "datastreams", datastream_id)
        return updated.model_copy(update={"etag": etag})

    def attach_files(self, datastream_id: str, files: Sequence[FileRecord]) -> int:
        """Upsert file records by path; returns the datastream's file count afterwards."""
        records = [FileRecord.model_validate(f.model_dump()) for f in files]
        with self._write() as conn:
            row = _row(conn, "datastreams", datastream_id)
            conn.executemany(
                "INSERT INTO files (datastream_id, path, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (datastream_id, path) DO UPDATE SET doc = excluded.doc",
                [(datastream_id, record.path, dump_json(record)) for record in records],
            )
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM files WHERE datastream_id = ?", (datastream_id,)
            ).fetchone()
            current = load_json(Datastream, row[1], row[0])
            updated = current.model_copy(update={"file_count": count, "updated_at": utc_now()})
            conn.execute(
                "UPDATE datastreams SET etag = ?, doc = ? WHERE id = ?",
                (_new_etag(), dump_json(updated), datastream_id),
            )
            self._touch(conn, "datastreams", datastream_id)
        return int(count)

    def list_files(
        self, datastream_id: str, limit: int = 100, continuation: str | None = None
    ) -> Page[FileRecord]:
        """File records of a datastream in path order."""
        listing = rules.checked_files_listing(datastream_id, limit, continuation)
        return self._file_page(listing, "files", "datastream_id")

    def _file_page(self, listing: rules.CheckedListing, table: str, owner: str) -> Page[FileRecord]:
        """A page of file records of ``table`` in path order, filtered by the ``owner`` column
        (the listing's one filter of that name)."""
        return self._keyset_page(
            listing,
            listing.keyset(("path",)),
            table=table,
            fields="doc",
            conditions={owner: f"{owner} = ?"},
            item=lambda row: FileRecord.model_validate_json(row[0]),
        )

    # lineage ----------------------------------------------------------------------------

    def _fetch_datastreams(self, ids: Iterable[str]) -> dict[str, Datastream]:
        wanted = sorted(set(ids))
        found: dict[str, Datastream] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._read(
                "SELECT d.etag, d.doc FROM datastreams AS d JOIN json_each(?) AS w "
                "ON d.id = w.value",
                (_json_list(chunk),),
            )
            for row in rows:
                datastream = load_json(Datastream, row[1], row[0])
                found[datastream.id] = datastream
        return found

    def _fetch_consumers(self, ids: Iterable[str]) -> list[Datastream]:
        rows = self._read(
            "SELECT DISTINCT s.datastream_id FROM datastream_sources AS s JOIN json_each(?) AS w "
            "ON s.source_id = w.value",
            (_json_list(sorted(set(ids))),),
        )
        return list(self._fetch_datastreams(row[0] for row in rows).values())

    # scenes -----------------------------------------------------------------------------

    def upsert_scenes(self, scenes: Sequence[Scene]) -> int:
        """Insert or replace scenes by id (all or nothing); returns how many were written."""
        with self._write() as conn:
            for scene in scenes:
                row = conn.execute(
                    "SELECT measurement_id FROM scenes WHERE id = ?", (scene.id,)
                ).fetchone()
                if row is not None and row[0] != scene.measurement_id:
                    raise ConflictError(
                        f"scene {scene.id!r} belongs to measurement {row[0]!r}, "
                        f"not {scene.measurement_id!r}"
                    )
                conn.execute(
                    "INSERT INTO scenes "
                    "(id, measurement_id, datastream_id, vehicle_id, type, start_key, etag, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "datastream_id = excluded.datastream_id, vehicle_id = excluded.vehicle_id, "
                    "type = excluded.type, start_key = excluded.start_key, "
                    "etag = excluded.etag, doc = excluded.doc",
                    (
                        scene.id,
                        scene.measurement_id,
                        scene.datastream_id,
                        scene.vehicle_id,
                        scene.type,
                        rules.time_key(scene.start),
                        _new_etag(),
                        dump_json(scene),
                    ),
                )
                self._touch(conn, "scenes", scene.id)
        return len(scenes)

    def get_scene(self, scene_id: str) -> Scene:
        """Raise NotFoundError when absent."""
        rows = self._read("SELECT etag, doc FROM scenes WHERE id = ?", (scene_id,))
        if not rows:
            raise NotFoundError(f"scene {scene_id!r} not found")
        return load_json(Scene, rows[0][1], rows[0][0])

    def query_scenes(self, query: SceneQuery) -> Page[Scene]:
        """Scenes by start time (then id), filtered by type, vehicle, measurement and start."""
        listing = rules.checked_scene_query(query)
        return self._keyset_page(
            listing,
            listing.keyset(("start_key", "id")),
            table="scenes",
            fields="etag, doc",
            conditions=_SCENE_CONDITIONS,
            item=lambda row: load_json(Scene, row[1], row[0]),
        )

    # erasure ----------------------------------------------------------------------------

    def erase_documents(
        self, measurement_ids: Sequence[str], datastream_ids: Sequence[str]
    ) -> dict[str, int]:
        """Delete the documents and their change-log rows, then scrub the file (see sqlite_db).

        Scenes go by measurement or datastream, file records and source links by datastream,
        a measurement's own file records with it.
        One transaction, so a crash leaves either all of them or none; the scrub runs even
        when nothing was left to delete, so a retry after a crash between the two finishes it.
        """
        measurements = _json_list(sorted(set(measurement_ids)))
        datastreams = _json_list(sorted(set(datastream_ids)))
        counts: dict[str, int] = {}
        with self._write() as conn:
            scene_ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM scenes "
                    "WHERE measurement_id IN (SELECT value FROM json_each(?)) "
                    "OR datastream_id IN (SELECT value FROM json_each(?))",
                    (measurements, datastreams),
                )
            ]
            for container, ids in (
                ("scenes", _json_list(scene_ids)),
                ("datastreams", datastreams),
                ("measurements", measurements),
            ):
                conn.execute(
                    "DELETE FROM changes WHERE container = ? "
                    "AND doc_id IN (SELECT value FROM json_each(?))",
                    (container, ids),
                )
            counts["scenes"] = conn.execute(
                "DELETE FROM scenes WHERE id IN (SELECT value FROM json_each(?))",
                (_json_list(scene_ids),),
            ).rowcount
            counts["files"] = conn.execute(
                "DELETE FROM files WHERE datastream_id IN (SELECT value FROM json_each(?))",
                (datastreams,),
            ).rowcount
            conn.execute(
                "DELETE FROM datastream_sources WHERE datastream_id IN "
                "(SELECT value FROM json_each(?))",
                (datastreams,),
            )
            counts["datastreams"] = conn.execute(
                "DELETE FROM datastreams WHERE id IN (SELECT value FROM json_each(?))",
                (datastreams,),
            ).rowcount
            counts["measurement_files"] = conn.execute(
                "DELETE FROM measurement_files WHERE measurement_id IN "
                "(SELECT value FROM json_each(?))",
                (measurements,),
            ).rowcount
            conn.execute(
                "DELETE FROM measurement_tags WHERE measurement_id IN "
                "(SELECT value FROM json_each(?))",
                (measurements,),
            )
            counts["measurements"] = conn.execute(
                "DELETE FROM measurements WHERE id IN (SELECT value FROM json_each(?))",
                (measurements,),
            ).rowcount
        self._db.scrub()
        return counts

    # change feed ------------------------------------------------------------------------

    def read_changes(
        self, container: ChangeFeedContainer, checkpoint: str | None, max_items: int = 100
    ) -> ChangeBatch:
        """Documents written after ``checkpoint`` (None: from the beginning), oldest first."""
        name = rules.check_container(container)
        limit = rules.check_limit(max_items, field="max_items")
        after = 0
        if checkpoint is not None:
            seq = decode_checkpoint(checkpoint, _BACKEND, name).get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise InvalidInputError("malformed checkpoint", field="checkpoint")
            after = seq
        rows = self._read(_CHANGES_SQL[name], (after, limit))
        documents = [{**_feed_document(name, row[2]), "etag": row[1]} for row in rows]
        last = rows[-1][0] if rows else after
        return ChangeBatch(
            documents=documents, checkpoint=encode_checkpoint(_BACKEND, name, {"seq": last})
        )


def _row(conn: sqlite3.Connection, table: str, doc_id: str, *, required: bool = True) -> Any:
    """The (etag, doc) row of ``doc_id`` in ``table``; absent: NotFoundError, or None if not
    ``required``."""
    row = conn.execute(_BY_ID[table], (doc_id,)).fetchone()
    if row is None and required:
        raise NotFoundError(f"{table.removesuffix('s')} {doc_id!r} not found")
    return row


def _measurement(row: Any) -> Measurement:
    """The Measurement in an (etag, doc) row; an old document's embedded files counted only."""
    return _measurement_document(row)[0]


def _measurement_document(row: Any) -> tuple[Measurement, list[FileRecord] | None]:
    body = _json_object(row[1])
    source = f"measurement {str(body.get('id'))[:200]!r}"
    body, embedded = split_embedded_files(body, source=source)
    return load(Measurement, body, row[0]), embedded


def _move_embedded_files(conn: sqlite3.Connection, measurement_id: str, row: Any) -> Measurement:
    """An old document's embedded files written as records, the document rewritten without
    them (same etag: the Measurement it holds is the same); inside the caller's transaction."""
    measurement, embedded = _measurement_document(row)
    if embedded is not None:
        _insert_measurement_files(conn, measurement_id, embedded)
        conn.execute(
            "UPDATE measurements SET doc = ? WHERE id = ?", (dump_json(measurement), measurement_id)
        )
    return measurement


def _insert_measurement_files(
    conn: sqlite3.Connection, measurement_id: str, records: Sequence[FileRecord]
) -> None:
    conn.executemany(
        "INSERT INTO measurement_files (measurement_id, path, doc) VALUES (?, ?, ?) "
        "ON CONFLICT (measurement_id, path) DO UPDATE SET doc = excluded.doc",
        [(measurement_id, record.path, dump_json(record)) for record in records],
    )


def _feed_document(container: str, text: str) -> dict[str, Any]:
    body = _json_object(text)
    if container == "measurements":
        source = f"measurement {str(body.get('id'))[:200]!r}"
        body = split_embedded_files(body, source=source)[0]
    return body


def _busy_is_retryable() -> AbstractContextManager[None]:
    return busy_is_retryable("metadata database")


def _json_list(values: list[str]) -> str:
    return json.dumps(values)


def _json_object(text: str) -> dict[str, Any]:
    body = json.loads(text)
    if not isinstance(body, dict):
        raise TypeError("stored document is not a JSON object")
    return body
