"""Contract: a measurement's manifest files are file records of their own, not in its document."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from azure.cosmos import CosmosClient

from dataops.errors import ConflictError, InvalidInputError, NotFoundError
from dataops.models import (
    FileRecord,
    Manifest,
    Measurement,
    MeasurementState,
    manifest_file_records,
)
from dataops.models.manifest import MAX_FILES
from dataops.settings import Settings, StoreBackend
from dataops.store import MAX_PAGE_SIZE, MetadataStore, all_measurement_files
from tests.contract.conftest import every_page, make_measurement
from tests.large_manifest import many_file_manifest

# Far below Cosmos' 2 MB item limit, whatever the number of files.
MAX_DOCUMENT_BYTES = 64 * 1024


@dataclass
class RawAccess:
    """The backend's own view of what the store wrote, beside the store."""

    settings: Settings
    client: CosmosClient | None

    def _container(self, name: str) -> Any:
        assert self.client is not None
        return self.client.get_database_client(self.settings.cosmos_database).get_container_client(
            name
        )

    def measurement_document(self, measurement_id: str) -> dict[str, Any]:
        """The measurement as stored: the sqlite row's JSON text, or the raw Cosmos item."""
        if self.client is None:
            with sqlite3.connect(self.settings.sqlite_path) as conn:
                (text,) = conn.execute(
                    "SELECT doc FROM measurements WHERE id = ?", (measurement_id,)
                ).fetchone()
            body: dict[str, Any] = json.loads(text)
            return body
        item: dict[str, Any] = self._container("measurements").read_item(
            measurement_id, partition_key=measurement_id
        )
        return item

    def write_old_document(self, measurement: Measurement, files: list[FileRecord]) -> None:
        """A measurement as stores wrote it before: every file embedded under ``files``."""
        doc = {
            **measurement.model_dump(mode="json", exclude={"etag", "file_count", "total_bytes"}),
            "files": [f.model_dump(mode="json") for f in files],
        }
        if self.client is None:
            with sqlite3.connect(self.settings.sqlite_path) as conn:
                conn.execute(
                    "INSERT INTO measurements (id, vehicle_id, start_key, end_key, state, etag, "
                    "doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        measurement.id,
                        measurement.vehicle_id,
                        measurement.recording_start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        measurement.recording_end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        measurement.state.value,
                        "old-etag",
                        json.dumps(doc),
                    ),
                )
            return
        self._container("measurements").create_item(
            {
                **doc,
                "measurement_id": measurement.id,
                "idx": {
                    "start": measurement.recording_start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "end": measurement.recording_end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
            }
        )

    def file_record_count(self, measurement_id: str) -> int:
        """How many of the measurement's own file records the backend holds."""
        if self.client is None:
            with sqlite3.connect(self.settings.sqlite_path) as conn:
                (count,) = conn.execute(
                    "SELECT COUNT(*) FROM measurement_files WHERE measurement_id = ?",
                    (measurement_id,),
                ).fetchone()
            return int(count)
        chunks = self._container("files").query_items(
            "SELECT * FROM c WHERE c.measurement_id = @m AND c.kind = 'measurement_files'",
            parameters=[{"name": "@m", "value": measurement_id}],
            partition_key=measurement_id,
        )
        return sum(len(chunk["records"]) for chunk in chunks)


@pytest.fixture
def raw(settings: Settings, request: pytest.FixtureRequest) -> RawAccess:
    """Raw access to the backend of ``store`` (the same sqlite file or cosmos database)."""
    if settings.store_backend is StoreBackend.SQLITE:
        return RawAccess(settings, None)
    return RawAccess(settings, request.getfixturevalue("cosmos_client"))


def register(store: MetadataStore, manifest: Manifest, measurement_id: str) -> Measurement:
    measurement = Measurement.from_manifest(manifest, measurement_id, f"up/{measurement_id}")
    return store.create_measurement(measurement, manifest_file_records(manifest))


def listed(store: MetadataStore, measurement_id: str, limit: int) -> list[FileRecord]:
    """Every file record, page by page, checking that each page keeps to ``limit``."""
    return every_page(
        lambda token: store.list_measurement_files(measurement_id, limit, token), limit
    )


def by_path(records: list[FileRecord]) -> list[FileRecord]:
    return sorted(records, key=lambda record: record.path)


def test_a_manifest_of_the_most_files_keeps_the_document_small_and_lists_every_file(
    store: MetadataStore, raw: RawAccess
) -> None:
    """10,000 files: the stored document stays far below 2 MB; every record comes back, paged."""
    manifest = many_file_manifest(MAX_FILES)
    created = register(store, manifest, "m-big")
    assert (created.file_count, created.total_bytes) == (
        MAX_FILES,
        sum(f.size for f in manifest.files),
    )

    document = raw.measurement_document("m-big")
    assert len(json.dumps(document).encode()) < MAX_DOCUMENT_BYTES
    assert "files" not in document
    assert document["file_count"] == MAX_FILES

    records = listed(store, "m-big", MAX_PAGE_SIZE)
    assert records == by_path(manifest_file_records(manifest))
    assert store.get_measurement("m-big").file_count == MAX_FILES


def test_small_pages_list_each_record_once_in_path_order(store: MetadataStore) -> None:
    manifest = many_file_manifest(7)
    register(store, manifest, "m-1")
    register(store, many_file_manifest(3, variant="-other"), "m-2")
    records = listed(store, "m-1", 2)
    assert records == by_path(manifest_file_records(manifest))
    assert list(all_measurement_files(store, "m-1")) == records


def test_recreating_the_same_content_returns_the_stored_measurement_and_its_files(
    store: MetadataStore,
) -> None:
    manifest = many_file_manifest(5)
    first = register(store, manifest, "m-1")
    again = register(store, manifest, "m-1")
    assert again == first
    assert listed(store, "m-1", 100) == by_path(manifest_file_records(manifest))


def test_other_content_under_the_same_id_conflicts_and_leaves_the_files(
    store: MetadataStore,
) -> None:
    manifest = many_file_manifest(5)
    register(store, manifest, "m-1")
    with pytest.raises(ConflictError):
        register(store, many_file_manifest(5, variant="-changed"), "m-1")
    assert listed(store, "m-1", 100) == by_path(manifest_file_records(manifest))


# Cosmos only: the sqlite store checks and creates in one transaction, so it has no such race.
@pytest.mark.parametrize("backend", ["cosmos"])
def test_a_writer_losing_the_create_race_with_other_content_leaves_the_winners_files(
    store: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cosmos writes the records before the document: a writer that found no measurement, then
    lost the create to one with other content, wrote its records too; they are never listed."""
    winner = many_file_manifest(5)
    register(store, winner, "m-1")
    real_read = store._read_measurement_doc  # type: ignore[attr-defined]
    reads: list[str] = []

    def read_after_the_first(measurement_id: str) -> Any:
        # The loser's first read happens before the winner's create: it sees no measurement.
        reads.append(measurement_id)
        return None if len(reads) == 1 else real_read(measurement_id)

    monkeypatch.setattr(store, "_read_measurement_doc", read_after_the_first)
    with pytest.raises(ConflictError):
        register(store, many_file_manifest(5, variant="-changed"), "m-1")
    assert len(reads) >= 2, "the loser read, wrote its records, lost the create and read again"
    assert listed(store, "m-1", 2) == by_path(manifest_file_records(winner))


@pytest.mark.parametrize(
    ("update", "files", "field"),
    [
        ({"file_count": 2, "total_bytes": 10}, ["a.mcap"], "file_count"),
        ({"file_count": 1, "total_bytes": 11}, ["a.mcap"], "total_bytes"),
        ({"file_count": 2, "total_bytes": 20}, ["a.mcap", "a.mcap"], "files[1]"),
    ],
)
def test_files_that_disagree_with_the_measurement_are_refused_and_nothing_is_written(
    store: MetadataStore, update: dict[str, int], files: list[str], field: str
) -> None:
    measurement = make_measurement("m-1").model_copy(update=update)
    records = [FileRecord(path=path, format="mcap", size=10) for path in files]
    with pytest.raises(InvalidInputError) as caught:
        store.create_measurement(measurement, records)
    assert caught.value.field == field
    assert caught.value.source == "measurement m-1"
    with pytest.raises(NotFoundError):
        store.get_measurement("m-1")


def test_listing_the_files_of_an_unknown_measurement_is_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError):
        store.list_measurement_files("nope")


def write_old_document(
    raw: RawAccess,
    file_count: int,
    *,
    embedded: Callable[[list[FileRecord]], list[FileRecord]] = list,
) -> tuple[Measurement, list[FileRecord]]:
    """Measurement ``m-old`` of ``file_count`` files as stores wrote it before file records:
    ``embedded(files)`` inside the document. Returns the measurement and its files."""
    manifest = many_file_manifest(file_count)
    files = manifest_file_records(manifest)
    old = Measurement.from_manifest(manifest, "m-old", "up/old")
    raw.write_old_document(old, embedded(files))
    return old, files


def test_an_old_document_with_embedded_files_is_read_and_its_files_moved_out(
    store: MetadataStore, raw: RawAccess
) -> None:
    """Stores wrote the file list into the document before: such a document still reads, and
    listing its files moves them into records, the document rewritten without them."""
    old, files = write_old_document(raw, 4)

    read = store.get_measurement("m-old")
    assert (read.file_count, read.total_bytes) == (4, old.total_bytes)
    assert read.same_content(old)
    assert store.create_measurement(old, files).id == "m-old"  # idempotent re-create

    assert listed(store, "m-old", 3) == by_path(files)
    assert "files" not in raw.measurement_document("m-old")
    assert raw.file_record_count("m-old") == 4
    assert store.get_measurement("m-old").file_count == 4
    assert listed(store, "m-old", 3) == by_path(files)


def test_a_state_change_of_an_old_document_keeps_its_files(
    store: MetadataStore, raw: RawAccess
) -> None:
    _, files = write_old_document(raw, 3)

    updated = store.set_measurement_state("m-old", MeasurementState.INGESTED)

    assert (updated.state, updated.file_count) == (MeasurementState.INGESTED, 3)
    assert "files" not in raw.measurement_document("m-old")
    assert listed(store, "m-old", 100) == by_path(files)


def test_a_malformed_embedded_file_list_names_the_measurement_and_the_field(
    store: MetadataStore, raw: RawAccess
) -> None:
    write_old_document(
        raw, 2, embedded=lambda files: [files[0], files[1].model_copy(update={"size": -1})]
    )
    with pytest.raises(InvalidInputError) as caught:
        store.get_measurement("m-old")
    assert caught.value.field == "files[1].size"
    assert caught.value.source == "measurement 'm-old'"


def test_erasing_a_measurement_erases_its_file_records(
    store: MetadataStore, raw: RawAccess
) -> None:
    register(store, many_file_manifest(6), "m-1")
    register(store, many_file_manifest(2, variant="-kept"), "m-2")

    counts = store.erase_documents(["m-1"], [])

    assert raw.file_record_count("m-1") == 0
    assert raw.file_record_count("m-2") == 2
    assert counts["measurements"] == 1
    assert counts["measurement_files"] >= 1  # rows (sqlite) or chunks of records (cosmos)
    with pytest.raises(NotFoundError):
        store.list_measurement_files("m-1")
    assert store.erase_documents(["m-1"], [])["measurements"] == 0
