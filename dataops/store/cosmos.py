"""The Azure metadata store: Cosmos DB (NoSQL API) through the synchronous azure-cosmos client.

Every container is partitioned by ``/measurement_id`` (a measurement document carries its own id
there). Updates send If-Match with the document's ``_etag``; queries are parameterized; sort keys
live under ``idx`` and are stripped before a document becomes a model again. The change-feed
consumer reads these documents as Cosmos delivers them, through :func:`document_to_datastream`,
so the store and its consumer strip the same bookkeeping.

Point reads go through single-document queries: ``@vercel/cosmosdb-server`` answers a point read
of a missing document with HTTP 500 instead of 404, and a query behaves the same on both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError
from pydantic import BaseModel

from dataops.azure_errors import translate_azure_errors
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
from dataops.settings import Settings
from dataops.store.continuation import (
    Keyset,
    decode_checkpoint,
    encode_checkpoint,
)
from dataops.store.cosmos_file_chunks import (
    CHUNK_KIND,
    CHUNK_RECORDS,
    chunk_documents,
    records_after,
)
from dataops.store.cosmos_setup import (
    StoreContainers,
    make_client,
    open_containers,
)
from dataops.store.documents import dump, load, validate_document
from dataops.store.measurement_files import checked_measurement_files, split_embedded_files
from dataops.store.protocol import (
    ChangeBatch,
    ChangeFeedContainer,
    MeasurementQuery,
    Page,
    SceneQuery,
)
from dataops.store.query_rules import (
    CheckedListing,
    check_container,
    check_datastream_recreate,
    check_filter,
    check_limit,
    check_measurement_recreate,
    checked_files_listing,
    checked_measurement_files_listing,
    checked_measurement_query,
    checked_scene_query,
    time_key,
)
from dataops.store.shared_operations import DatastreamChange, SharedOperations

__all__ = ["CosmosStore", "document_to_datastream"]

_BACKEND = "cosmos"
# The store's own bookkeeping in every document it writes: the sort keys under ``idx``, and the
# server's system properties, all named with a leading "_" (``_rid``, ``_etag``, ``_ts``, ``_lsn``
# ...). No model field starts with "_".
_INDEX_KEY = "idx"
# A file-count update races only with other writers of the same datastream; a few rounds of
# re-read and If-Match settle it.
_UPDATE_ATTEMPTS = 8
_UPSERT_WORKERS = 8
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# Each filter of a listing (query_rules) -> its condition, the value bound as @<name>.
_MEASUREMENT_CONDITIONS = {
    "vehicle_id": "c.vehicle_id = @vehicle_id",
    "tag": "ARRAY_CONTAINS(c.tags, @tag)",
    "state": "c.state = @state",
    # Overlap: the recording touches [recorded_from, recorded_to].
    "recorded_from": "c.idx['end'] >= @recorded_from",
    "recorded_to": "c.idx.start <= @recorded_to",
}
_SCENE_CONDITIONS = {
    "type": "c.type = @type",
    "vehicle_id": "c.vehicle_id = @vehicle_id",
    "measurement_id": "c.measurement_id = @measurement_id",
    "start_from": "c.idx.start >= @start_from",
    "start_to": "c.idx.start <= @start_to",
}
_FEED_MODELS: dict[str, type[BaseModel]] = {
    "measurements": Measurement,
    "datastreams": Datastream,
    "scenes": Scene,
}


def _params(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in values.items()]


def _clause_if_set(values: dict[str, Any], clause: str, name: str, value: object) -> str:
    """``clause`` with ``value`` bound to ``name`` in ``values``; "" when ``value`` is None."""
    if value is None:
        return ""
    values[name] = value
    return clause


def _is_system_key(key: str) -> bool:
    return key.startswith("_")


def _fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The model's fields of a stored document: without the store's bookkeeping."""
    return {k: v for k, v in doc.items() if k != _INDEX_KEY and not _is_system_key(k)}


def _model(cls: type[M], doc: Mapping[str, Any]) -> M:
    return load(cls, _fields(doc), str(doc["_etag"]))


def _measurement(doc: Mapping[str, Any]) -> Measurement:
    """The Measurement in a stored document; an old document's embedded files counted only."""
    body = _fields(doc)
    body.pop("measurement_id", None)
    source = f"measurement {str(doc.get('id'))[:200]!r}"
    return load(Measurement, split_embedded_files(body, source=source)[0], str(doc["_etag"]))


def _body(doc: dict[str, Any]) -> dict[str, Any]:
    """A read document without the server's system properties, ready to write back."""
    return {k: v for k, v in doc.items() if not _is_system_key(k)}


def document_to_datastream(document: Mapping[str, Any]) -> Datastream:
    """The Datastream in a document of the datastreams container, as this store writes it.

    That is what the Cosmos change feed delivers: the model's fields plus the store's sort keys
    and the server's system properties, the etag under ``_etag``. InvalidInputError (naming the
    document and the field) when the document is no datastream of this store.
    """
    source = f"datastreams document {str(document.get('id'))[:200]!r}"
    etag = document.get("_etag")
    if not isinstance(etag, str):
        raise InvalidInputError(
            "missing: no document of the cosmos store", source=source, field="_etag"
        )
    return validate_document(Datastream, {**_fields(document), "etag": etag}, source=source)


def _key_of(doc: dict[str, Any], columns: tuple[str, ...]) -> list[str]:
    """The values of ``columns`` (``c.a.b`` paths) in a document: its sort key."""
    key: list[str] = []
    for column in columns:
        value: Any = doc
        for part in column.split(".")[1:]:
            value = value[part]
        key.append(value)
    return key


def _file_id(datastream_id: str, path: str) -> str:
    # Paths may hold '/', which Cosmos ids must not; a hash is a safe, fixed-length id.
    return hashlib.sha256(f"{datastream_id}\n{path}".encode()).hexdigest()


class CosmosStore(SharedOperations):
    """MetadataStore on Cosmos DB (or ``@vercel/cosmosdb-server`` locally)."""

    def __init__(
        self, containers: StoreContainers, *, close: Callable[[], None] | None = None
    ) -> None:
        """Use ``containers``; ``close`` releases the client when the store owns it."""
        self._c = containers
        self._close = close

    @classmethod
    def from_settings(cls, settings: Settings) -> CosmosStore:
        """Connect with the endpoint, key, database and TLS setting from ``settings``."""
        if not settings.cosmos_endpoint:
            raise InvalidInputError("is required for the cosmos store", field="cosmos_endpoint")
        client = make_client(
            settings.cosmos_endpoint, settings.cosmos_key, verify_tls=settings.cosmos_verify_tls
        )
        return cls(open_containers(client, settings.cosmos_database), close=client.close)

    def close(self) -> None:
        """Close the underlying client (its HTTP connection pool)."""
        if self._close is not None:
            self._close()
            self._close = None

    # plumbing ---------------------------------------------------------------------------

    def _query(
        self,
        container: ContainerProxy,
        sql: str,
        values: dict[str, Any],
        *,
        partition: str | None = None,
        what: str,
    ) -> list[Any]:
        # Any: documents, or bare values for SELECT VALUE queries.
        with translate_azure_errors(what):
            if partition is None:
                items = container.query_items(
                    sql, parameters=_params(values), enable_cross_partition_query=True
                )
            else:
                items = container.query_items(
                    sql, parameters=_params(values), partition_key=partition
                )
            return list(items)

    def _keyset_page(
        self,
        container: ContainerProxy,
        listing: CheckedListing,
        keyset: Keyset,
        *,
        conditions: dict[str, str],
        item: Callable[[dict[str, Any]], T],
        what: str,
        measurement_id: str | None = None,
    ) -> Page[T]:
        """One page of the documents matching the listing's filters, in key order.

        ``conditions`` maps each filter name to its SQL, the value bound as ``@<name>``
        (constant fragments only). ``measurement_id`` scopes the query to that partition.
        """
        clauses = [conditions[name] for name, _ in listing.set_filters()]
        values: dict[str, Any] = {f"@{name}": value for name, value in listing.set_filters()}
        values["@n"] = listing.limit + 1
        if measurement_id is not None:
            clauses.insert(0, "c.measurement_id = @partition")
            values["@partition"] = measurement_id
        position = keyset.position(listing.continuation)
        if position is not None:
            names = [f"@after{index}" for index in range(len(position))]
            clauses.append(keyset.after_clause(names))
            values.update(zip(names, position, strict=True))
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        docs = self._query(
            container,
            f"SELECT TOP @n * FROM c {where}ORDER BY {keyset.order_by()}",  # noqa: S608  # constant fragments only
            values,
            partition=measurement_id,
            what=what,
        )
        return keyset.page(
            docs, listing.limit, item=item, key=lambda doc: _key_of(doc, keyset.columns)
        )

    def _read_measurement_doc(self, measurement_id: str) -> dict[str, Any] | None:
        docs = self._query(
            self._c.measurements,
            "SELECT * FROM c WHERE c.measurement_id = @id AND c.id = @id",
            {"@id": measurement_id},
            partition=measurement_id,
            what=f"measurement {measurement_id!r}",
        )
        return docs[0] if docs else None

    def _read_datastream_doc(self, datastream_id: str) -> dict[str, Any]:
        docs = self._query(
            self._c.datastreams,
            "SELECT * FROM c WHERE c.id = @id",
            {"@id": datastream_id},
            what=f"datastream {datastream_id!r}",
        )
        if not docs:
            raise NotFoundError(f"datastream {datastream_id!r} not found")
        doc: dict[str, Any] = docs[0]
        return doc

    def _replace(
        self, container: ContainerProxy, doc: dict[str, Any], etag: str, what: str
    ) -> dict[str, Any]:
        with translate_azure_errors(what):
            result: dict[str, Any] = container.replace_item(
                doc["id"], doc, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        return result

    # measurements -----------------------------------------------------------------------

    def create_measurement(
        self, measurement: Measurement, files: Sequence[FileRecord] = ()
    ) -> Measurement:
        """Insert with its file records; same id and content returns the stored one; other
        content: ConflictError.

        The file records go first, the document last: a crash in between leaves no measurement,
        and the retry writes the same records again (ids are derived from the paths).
        """
        records = checked_measurement_files(measurement, files)
        what = f"measurement {measurement.id!r}"
        existing = self._read_measurement_doc(measurement.id)
        if existing is None:
            self._upsert_measurement_files(measurement.id, measurement.content_sha256, records)
            doc = {
                **dump(measurement),
                "measurement_id": measurement.id,
                "idx": {
                    "start": time_key(measurement.recording_start),
                    "end": time_key(measurement.recording_end),
                },
            }
            try:
                with translate_azure_errors(what):
                    created = self._c.measurements.create_item(doc)
                return _measurement(created)
            except ConflictError:
                # Another writer created it between our read and our create: compare with theirs.
                existing = self._read_measurement_doc(measurement.id)
                if existing is None:
                    raise
        return check_measurement_recreate(_measurement(existing), measurement)

    def get_measurement(self, measurement_id: str) -> Measurement:
        """Raise NotFoundError when absent."""
        return _measurement(self._measurement_doc(measurement_id))

    def _measurement_doc(self, measurement_id: str) -> dict[str, Any]:
        doc = self._read_measurement_doc(measurement_id)
        if doc is None:
            raise NotFoundError(f"measurement {measurement_id!r} not found")
        return doc

    def _upsert_measurement_files(
        self, measurement_id: str, content_sha256: str, records: Sequence[FileRecord]
    ) -> None:
        self._upsert_files(
            chunk_documents(measurement_id, content_sha256, records),
            what=f"files of measurement {measurement_id!r}",
        )

    def _without_embedded_files(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc``, or for an old document with its files embedded, the document without them,
        once its files are written as records (the caller writes the document back)."""
        measurement_id = str(doc["id"])
        body, embedded = split_embedded_files(_body(doc), source=f"measurement {measurement_id!r}")
        if embedded is None:
            return doc
        self._upsert_measurement_files(measurement_id, str(doc["content_sha256"]), embedded)
        return {**body, "_etag": doc["_etag"]}

    def set_measurement_state(
        self, measurement_id: str, state: MeasurementState, expected_etag: str | None = None
    ) -> Measurement:
        """Set the state; with ``expected_etag`` only if the document is unchanged since."""
        state = MeasurementState(state)
        what = f"measurement {measurement_id!r}"
        for _ in range(_UPDATE_ATTEMPTS):
            doc = self._measurement_doc(measurement_id)
            etag = expected_etag if expected_etag is not None else str(doc["_etag"])
            if doc["_etag"] != etag:
                raise EtagMismatchError(f"{what} changed since it was read")
            # The rewritten document has no file list: an old one's files move out first.
            body = _body(self._without_embedded_files(doc))
            try:
                updated = self._replace(
                    self._c.measurements, {**body, "state": state.value}, etag, what
                )
            except EtagMismatchError:
                if expected_etag is not None:
                    raise
                continue
            return _measurement(updated)
        raise EtagMismatchError(f"{what} kept changing; gave up after {_UPDATE_ATTEMPTS} tries")

    def list_measurement_files(
        self, measurement_id: str, limit: int = 100, continuation: str | None = None
    ) -> Page[FileRecord]:
        """The manifest's file records of a measurement in path order; NotFoundError if absent."""
        listing = checked_measurement_files_listing(measurement_id, limit, continuation)
        doc = self._measurement_doc(measurement_id)
        moved = self._without_embedded_files(doc)
        if moved is not doc:
            what = f"measurement {measurement_id!r}"
            # A lost race means another writer rewrote the document meanwhile, and every
            # rewrite leaves the files out: the records are written either way.
            with suppress(EtagMismatchError):
                self._replace(self._c.measurements, _body(moved), str(doc["_etag"]), what)
        keyset = listing.keyset(("path",))
        position = keyset.position(listing.continuation)
        after = position[0] if position is not None else None
        wanted = listing.limit + 1
        # Every chunk but the last is full, and the first may hold one record past ``after``.
        values: dict[str, Any] = {
            "@m": measurement_id,
            "@h": str(doc["content_sha256"]),
            "@n": wanted // CHUNK_RECORDS + 2,
        }
        resume = _clause_if_set(values, "AND c.last_path > @after ", "@after", after)
        chunks = self._query(
            self._c.files,
            f"SELECT TOP @n * FROM c WHERE c.measurement_id = @m AND c.kind = '{CHUNK_KIND}' "  # noqa: S608  # constant fragments only
            f"AND c.content_sha256 = @h {resume}ORDER BY c.chunk",
            values,
            partition=measurement_id,
            what=f"files of measurement {measurement_id!r}",
        )
        return keyset.page(
            records_after(chunks, after, wanted),
            listing.limit,
            item=lambda record: record,
            key=lambda record: [record.path],
        )

    def query_measurements(self, query: MeasurementQuery) -> Page[Measurement]:
        """Newest recording first (ties by id); limit capped at MAX_PAGE_SIZE."""
        listing = checked_measurement_query(query)
        return self._keyset_page(
            self._c.measurements,
            listing,
            listing.keyset(("c.idx.start", "c.id"), descending=True),
            conditions=_MEASUREMENT_CONDITIONS,
            item=_measurement,
            what="measurements query",
        )

    # datastreams ------------------------------------------------------------------------

    def _find_datastream(self, datastream_id: str) -> dict[str, Any] | None:
        try:
            return self._read_datastream_doc(datastream_id)
        except NotFoundError:
            return None

    def create_datastream(self, datastream: Datastream) -> Datastream:
        """Insert; the same id for the same product returns the stored one, else ConflictError."""
        what = f"datastream {datastream.id!r}"
        # Ids are unique per partition in Cosmos; the store wants them unique everywhere.
        existing = self._find_datastream(datastream.id)
        if existing is None:
            if self._read_measurement_doc(datastream.measurement_id) is None:
                raise NotFoundError(
                    f"measurement {datastream.measurement_id!r} of {what} not found"
                )
            doc = {**dump(datastream), "idx": {"created": time_key(datastream.created_at)}}
            try:
                with translate_azure_errors(what):
                    created = self._c.datastreams.create_item(doc)
                return _model(Datastream, created)
            except ConflictError:
                existing = self._find_datastream(datastream.id)
                if existing is None:
                    raise
        return check_datastream_recreate(_model(Datastream, existing), datastream)

    def get_datastream(self, datastream_id: str) -> Datastream:
        """Raise NotFoundError when absent."""
        return _model(Datastream, self._read_datastream_doc(datastream_id))

    def list_datastreams(
        self,
        measurement_id: str,
        type: DatastreamType | None = None,  # noqa: A002  # the protocol's parameter name
    ) -> list[Datastream]:
        """Datastreams of a measurement, oldest first, optionally of one type."""
        check_filter(measurement_id, field="measurement_id")
        type_value = check_filter(type, field="type")
        values: dict[str, Any] = {"@m": measurement_id}
        type_clause = _clause_if_set(values, "AND c.type = @type ", "@type", type_value)
        docs = self._query(
            self._c.datastreams,
            f"SELECT * FROM c WHERE c.measurement_id = @m {type_clause}"  # noqa: S608  # constant fragment
            "ORDER BY c.idx.created, c.id",
            values,
            partition=measurement_id,
            what=f"datastreams of measurement {measurement_id!r}",
        )
        return [_model(Datastream, doc) for doc in docs]

    def _rewrite_datastream(
        self, datastream_id: str, change: DatastreamChange, expected_etag: str
    ) -> Datastream:
        doc = self._read_datastream_doc(datastream_id)
        updated = change(_model(Datastream, doc))
        # If-Match with the caller's etag makes check and write one atomic step on the server.
        written = self._replace(
            self._c.datastreams,
            {**dump(updated), "idx": doc["idx"]},
            expected_etag,
            f"datastream {datastream_id!r}",
        )
        return _model(Datastream, written)

    def attach_files(self, datastream_id: str, files: Sequence[FileRecord]) -> int:
        """Upsert file records by path; returns the datastream's file count afterwards."""
        records = [FileRecord.model_validate(f.model_dump()) for f in files]
        doc = self._read_datastream_doc(datastream_id)
        measurement_id = str(doc["measurement_id"])
        docs = [
            {
                "id": _file_id(datastream_id, record.path),
                "measurement_id": measurement_id,
                "datastream_id": datastream_id,
                "path": record.path,
                "record": dump(record),
            }
            for record in records
        ]
        self._upsert_files(docs, what=f"files of datastream {datastream_id!r}")
        return self._update_file_count(datastream_id, measurement_id)

    def _upsert_files(self, docs: list[dict[str, Any]], *, what: str) -> None:
        # One upsert per file: cosmosdb-server mishandles transactional batches, and an
        # upsert by a path-derived id is idempotent, so a retry after a partial failure is safe.
        # A few requests in flight at once: an extraction can attach 100k files.
        if not docs:
            return
        with translate_azure_errors(what), ThreadPoolExecutor(max_workers=_UPSERT_WORKERS) as pool:
            # list() re-raises the first failure here, inside translate_azure_errors.
            list(pool.map(self._c.files.upsert_item, docs))

    def _update_file_count(self, datastream_id: str, measurement_id: str) -> int:
        what = f"datastream {datastream_id!r}"
        for _ in range(_UPDATE_ATTEMPTS):
            (count_value,) = self._query(
                self._c.files,
                "SELECT VALUE COUNT(1) FROM c WHERE c.measurement_id = @m AND c.datastream_id = @d",
                {"@m": measurement_id, "@d": datastream_id},
                partition=measurement_id,
                what=f"files of {what}",
            )
            count = int(count_value)  # a VALUE query yields the bare number
            doc = self._read_datastream_doc(datastream_id)
            current = _model(Datastream, doc)
            updated = current.model_copy(update={"file_count": count, "updated_at": utc_now()})
            body = {**dump(updated), "idx": doc["idx"]}
            try:
                self._replace(self._c.datastreams, body, str(doc["_etag"]), what)
            except EtagMismatchError:
                continue
            return count
        raise EtagMismatchError(f"{what} kept changing; gave up after {_UPDATE_ATTEMPTS} tries")

    def list_files(
        self, datastream_id: str, limit: int = 100, continuation: str | None = None
    ) -> Page[FileRecord]:
        """File records of a datastream in path order."""
        listing = checked_files_listing(datastream_id, limit, continuation)
        return self._keyset_page(
            self._c.files,
            listing,
            listing.keyset(("c.path",)),
            conditions={"datastream_id": "c.datastream_id = @datastream_id"},
            item=lambda doc: FileRecord.model_validate(doc["record"]),
            what=f"files of datastream {datastream_id!r}",
            measurement_id=str(self._read_datastream_doc(datastream_id)["measurement_id"]),
        )

    # lineage ----------------------------------------------------------------------------

    def _fetch_datastreams(self, ids: Iterable[str]) -> dict[str, Datastream]:
        wanted = sorted(set(ids))
        found: dict[str, Datastream] = {}
        for start in range(0, len(wanted), 256):
            docs = self._query(
                self._c.datastreams,
                "SELECT * FROM c WHERE ARRAY_CONTAINS(@ids, c.id)",
                {"@ids": wanted[start : start + 256]},
                what="lineage datastreams",
            )
            found.update((doc["id"], _model(Datastream, doc)) for doc in docs)
        return found

    def _fetch_consumers(self, ids: Iterable[str]) -> list[Datastream]:
        wanted = sorted(set(ids))
        found: dict[str, Datastream] = {}
        for start in range(0, len(wanted), 256):
            # EXISTS rather than JOIN + DISTINCT: cosmosdb-server cannot parse the latter.
            docs = self._query(
                self._c.datastreams,
                "SELECT * FROM c WHERE EXISTS("
                "SELECT VALUE s FROM s IN c.sources WHERE ARRAY_CONTAINS(@ids, s))",
                {"@ids": wanted[start : start + 256]},
                what="lineage consumers",
            )
            found.update((doc["id"], _model(Datastream, doc)) for doc in docs)
        return list(found.values())

    # scenes -----------------------------------------------------------------------------

    def upsert_scenes(self, scenes: Sequence[Scene]) -> int:
        """Insert or replace scenes by id; returns how many were written.

        Each scene is its own write (Cosmos has no cross-partition transaction); an upsert is
        idempotent, so repeating a partly failed call completes it.
        """
        ids = sorted({scene.id for scene in scenes})
        owners: dict[str, str] = {}
        for start in range(0, len(ids), 256):
            for doc in self._query(
                self._c.scenes,
                "SELECT c.id, c.measurement_id FROM c WHERE ARRAY_CONTAINS(@ids, c.id)",
                {"@ids": ids[start : start + 256]},
                what="scenes",
            ):
                owners[doc["id"]] = doc["measurement_id"]
        for scene in scenes:
            owner = owners.get(scene.id, scene.measurement_id)
            if owner != scene.measurement_id:
                raise ConflictError(
                    f"scene {scene.id!r} belongs to measurement {owner!r}, "
                    f"not {scene.measurement_id!r}"
                )
        with translate_azure_errors("scenes"):
            for scene in scenes:
                self._c.scenes.upsert_item({**dump(scene), "idx": {"start": time_key(scene.start)}})
        return len(scenes)

    def get_scene(self, scene_id: str) -> Scene:
        """Raise NotFoundError when absent (one cross-partition query by id)."""
        docs = self._query(
            self._c.scenes, "SELECT * FROM c WHERE c.id = @id", {"@id": scene_id}, what="scene"
        )
        if not docs:
            raise NotFoundError(f"scene {scene_id!r} not found")
        return _model(Scene, docs[0])

    def query_scenes(self, query: SceneQuery) -> Page[Scene]:
        """Scenes by start time (then id), filtered by type, vehicle, measurement and start."""
        listing = checked_scene_query(query)
        return self._keyset_page(
            self._c.scenes,
            listing,
            listing.keyset(("c.idx.start", "c.id")),
            conditions=_SCENE_CONDITIONS,
            item=lambda doc: _model(Scene, doc),
            what="scenes query",
        )

    # change feed ------------------------------------------------------------------------

    def erase_documents(
        self, measurement_ids: Sequence[str], datastream_ids: Sequence[str]
    ) -> dict[str, int]:
        """Delete the items; Cosmos keeps no deleted item in its latest-version change feed.

        Measurements last, so a crash midway leaves the measurement to find the rest again.
        """
        values = {"@m": sorted(set(measurement_ids)), "@d": sorted(set(datastream_ids))}
        # Each kind of document counted -> its container and the condition that finds them.
        where = {
            "scenes": (
                "scenes",
                "ARRAY_CONTAINS(@m, c.measurement_id) OR ARRAY_CONTAINS(@d, c.datastream_id)",
            ),
            "files": ("files", "ARRAY_CONTAINS(@d, c.datastream_id)"),
            "measurement_files": (
                "files",
                f"c.kind = '{CHUNK_KIND}' AND ARRAY_CONTAINS(@m, c.measurement_id)",
            ),
            "datastreams": ("datastreams", "ARRAY_CONTAINS(@d, c.id)"),
            "measurements": ("measurements", "ARRAY_CONTAINS(@m, c.id)"),
        }
        counts: dict[str, int] = {}
        for name, (container_name, clause) in where.items():
            container: ContainerProxy = getattr(self._c, container_name)
            found = self._query(
                container,
                f"SELECT c.id, c.measurement_id FROM c WHERE {clause}",  # noqa: S608  # constant clauses
                values,
                what=f"{name} to erase",
            )
            deleted = 0
            with translate_azure_errors(f"erasing {name}"):
                for item in found:
                    try:
                        container.delete_item(item["id"], partition_key=item["measurement_id"])
                    except CosmosResourceNotFoundError:
                        continue  # deleted meanwhile (an earlier attempt still in flight)
                    deleted += 1
            counts[name] = deleted
        return counts

    def read_changes(
        self, container: ChangeFeedContainer, checkpoint: str | None, max_items: int = 100
    ) -> ChangeBatch:
        """Documents written after ``checkpoint`` (None: from the beginning), oldest first.

        Polls ``_ts`` (1 s resolution) instead of the incremental change feed, which
        cosmosdb-server lacks. The checkpoint holds the last ``_ts`` delivered and the etags
        already delivered at that second; a document rewritten in the same second has a new
        etag and so is delivered again, as its latest version.
        """
        name = check_container(container)
        limit = check_limit(max_items, field="max_items")
        last_ts, seen = 0, frozenset[str]()
        if checkpoint is not None:
            state = decode_checkpoint(checkpoint, _BACKEND, name)
            ts, etags = state.get("ts"), state.get("seen")
            if (
                not isinstance(ts, int)
                or isinstance(ts, bool)
                or ts < 0
                or not isinstance(etags, list)
                or not all(isinstance(e, str) for e in etags)
            ):
                raise InvalidInputError("malformed checkpoint", field="checkpoint")
            last_ts, seen = ts, frozenset(etags)
        # Asking for limit + len(seen) guarantees `limit` unseen documents whenever that many
        # exist, whatever order the server gives documents of the same second.
        docs = self._query(
            getattr(self._c, name),
            "SELECT TOP @n * FROM c WHERE c._ts >= @ts ORDER BY c._ts",
            {"@n": limit + len(seen), "@ts": last_ts},
            what=f"{name} change feed",
        )
        fresh = [doc for doc in docs if not (doc["_ts"] == last_ts and doc["_etag"] in seen)]
        fresh = fresh[:limit]
        if fresh:
            new_ts = int(fresh[-1]["_ts"])
            carried = seen if new_ts == last_ts else frozenset()
            seen = carried | {str(doc["_etag"]) for doc in fresh if doc["_ts"] == new_ts}
            last_ts = new_ts
        model: type[BaseModel] = _FEED_MODELS[name]
        documents: list[dict[str, Any]] = [
            (_measurement(doc) if model is Measurement else _model(model, doc)).model_dump(
                mode="json"
            )
            for doc in fresh
        ]
        return ChangeBatch(
            documents=documents,
            checkpoint=encode_checkpoint(_BACKEND, name, {"ts": last_ts, "seen": sorted(seen)}),
        )
