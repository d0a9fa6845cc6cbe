"""The ingest steps against real Azurite and the SQLite store: each rule of ingest in isolation.

The orchestration that chains them is exercised through devhost in tests/e2e; here each
step's guarantees are pinned down: what is validated, what is copied, what is never lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataops import ingest
from dataops.errors import ConflictError, InvalidInputError
from dataops.models import DatastreamState, MeasurementState
from dataops.paths import Zone
from dataops.settings import UnlistedFilePolicy
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from tests.manifests import manifest_doc

pytestmark = pytest.mark.azurite
MAX_MANIFEST = 1024 * 1024
FILES = {
    "ros2/metadata.yaml": b"rosbag2_bagfile_information:\n  version: 5\n",
    "ros2/ros2_0.mcap": b"\x89MCAP0\r\n" + bytes(range(256)) * 300,
    "drive.bag": b"#ROSBAG V2.0\n" + b"\x01" * 5000,
    "signals.mf4": b"MDF     4.10" + b"\x02" * 777,
}


def manifest_for(files: dict[str, bytes], **extra: Any) -> dict[str, Any]:
    return manifest_doc(files, vehicle_id="WVW-TEST-001", **extra)


def put_upload(
    zones: BlobZones,
    prefix: str,
    files: dict[str, bytes],
    manifest: dict[str, Any] | None = None,
) -> None:
    for path, data in files.items():
        zones.write_bytes(Zone.LANDING, f"{prefix}/{path}", data)
    body = json.dumps(manifest if manifest is not None else manifest_for(files)).encode()
    zones.write_bytes(Zone.LANDING, f"{prefix}/manifest.json", body)


def names(zones: BlobZones, zone: Zone, prefix: str | None = None) -> set[str]:
    return {info.path for info in zones.list_blobs(zone, prefix)}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "metadata.sqlite3")
    yield opened
    opened.close()


def check(
    zones: BlobZones, prefix: str, unlisted: UnlistedFilePolicy = UnlistedFilePolicy.WARN
) -> ingest.UploadCheck:
    return ingest.check_upload(zones, prefix, max_manifest_bytes=MAX_MANIFEST, unlisted=unlisted)


def register(
    zones: BlobZones, store: SqliteStore, prefix: str, manifest_etag: str, datastream_id: str
) -> ingest.Registration:
    """``register_upload`` of ``prefix`` as its ingest run would call it."""
    return ingest.register_upload(
        zones,
        store,
        upload_prefix=prefix,
        manifest_etag=manifest_etag,
        datastream_id=datastream_id,
        instance_id="ingest-test",
        max_manifest_bytes=MAX_MANIFEST,
    )


def run_happy_path(
    zones: BlobZones, store: SqliteStore, prefix: str, datastream_id: str
) -> dict[str, Any]:
    result = check(zones, prefix)
    assert result.missing == []
    for item in result.files:
        ingest.verify_checksum(
            zones, prefix, item.path, etag=item.etag, sha256=item.sha256, size=item.size
        )
    registration = register(zones, store, prefix, result.manifest_etag, datastream_id)
    for item in result.files:
        copied = ingest.copy_to_raw_and_archive(
            zones,
            upload_prefix=prefix,
            path=item.path,
            etag=item.etag,
            sha256=item.sha256,
            raw_prefix=registration.raw_prefix,
        )
        assert copied["source_changed"] is False
    totals = ingest.complete_raw(
        store, measurement_id=registration.measurement_id, datastream_id=registration.datastream_id
    )
    ingest.delete_from_landing(
        zones,
        upload_prefix=prefix,
        files=[f.to_dict() for f in result.files],
        manifest_etag=result.manifest_etag,
    )
    return {**registration.to_dict(), **totals}


def test_happy_path_moves_every_file_to_raw_and_archive_and_records_it(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    put_upload(blob_zones, "up/1", FILES)
    done = run_happy_path(blob_zones, store, "up/1", "ds-raw-1")

    raw_prefix = done["raw_prefix"]
    assert raw_prefix.startswith("2026/05/04/WVW-TEST-001/")
    assert names(blob_zones, Zone.RAW) == {f"{raw_prefix}/{p}" for p in FILES}
    assert names(blob_zones, Zone.ARCHIVE) == {f"up/1/{p}" for p in FILES}
    assert names(blob_zones, Zone.LANDING) == set()
    for path, data in FILES.items():
        assert blob_zones.read_bytes(Zone.RAW, f"{raw_prefix}/{path}", max_bytes=10**7).data == data

    datastream = store.get_datastream("ds-raw-1")
    assert datastream.state is DatastreamState.COMPLETED
    assert datastream.file_count == len(FILES)
    assert datastream.stats["bytes"] == sum(len(d) for d in FILES.values())
    assert store.get_measurement(done["measurement_id"]).state is MeasurementState.INGESTED
    records = store.list_files("ds-raw-1", limit=100).items
    assert {r.path for r in records} == {f"{raw_prefix}/{p}" for p in FILES}


def test_every_step_is_idempotent_when_retried(blob_zones: BlobZones, store: SqliteStore) -> None:
    put_upload(blob_zones, "up/2", FILES)
    result = check(blob_zones, "up/2")
    kwargs: dict[str, Any] = {
        "upload_prefix": "up/2",
        "manifest_etag": result.manifest_etag,
        "datastream_id": "ds-2",
        "instance_id": "i-2",
        "max_manifest_bytes": MAX_MANIFEST,
    }
    first = ingest.register_upload(blob_zones, store, **kwargs)
    again = ingest.register_upload(blob_zones, store, **kwargs)
    assert first == again
    assert len(store.list_datastreams(first.measurement_id)) == 1
    item = result.files[0]
    copy_args: dict[str, Any] = {
        "upload_prefix": "up/2",
        "path": item.path,
        "etag": item.etag,
        "sha256": item.sha256,
        "raw_prefix": first.raw_prefix,
    }
    ingest.copy_to_raw_and_archive(blob_zones, **copy_args)
    second = ingest.copy_to_raw_and_archive(blob_zones, **copy_args)
    assert all(c["skipped"] for c in second["copies"])
    for entry in result.files[1:]:
        ingest.copy_to_raw_and_archive(
            blob_zones,
            **{**copy_args, "path": entry.path, "etag": entry.etag, "sha256": entry.sha256},
        )
    ingest.complete_raw(store, measurement_id=first.measurement_id, datastream_id="ds-2")
    ingest.complete_raw(store, measurement_id=first.measurement_id, datastream_id="ds-2")
    assert store.get_datastream("ds-2").file_count == len(FILES)
    files = [f.to_dict() for f in result.files]
    ingest.delete_from_landing(
        blob_zones, upload_prefix="up/2", files=files, manifest_etag=result.manifest_etag
    )
    ingest.delete_from_landing(
        blob_zones, upload_prefix="up/2", files=files, manifest_etag=result.manifest_etag
    )
    assert names(blob_zones, Zone.LANDING) == set()


def test_missing_files_are_reported_not_failed(blob_zones: BlobZones) -> None:
    partial = dict(FILES)
    late = partial.pop("drive.bag")
    put_upload(blob_zones, "up/3", partial, manifest_for(FILES))
    assert check(blob_zones, "up/3").missing == ["drive.bag"]
    blob_zones.write_bytes(Zone.LANDING, "up/3/drive.bag", late)
    assert check(blob_zones, "up/3").missing == []


def test_size_mismatch_names_the_file_and_field(blob_zones: BlobZones) -> None:
    manifest = manifest_for(FILES)
    manifest["files"][2]["size"] += 1
    put_upload(blob_zones, "up/4", FILES, manifest)
    with pytest.raises(InvalidInputError) as err:
        check(blob_zones, "up/4")
    assert err.value.field == "files[2].size"
    assert "drive.bag" in str(err.value)


def test_a_flipped_byte_fails_the_checksum_and_the_upload_goes_to_error_intact(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    corrupt = dict(FILES)
    data = bytearray(corrupt["drive.bag"])
    data[100] ^= 0x01
    corrupt["drive.bag"] = bytes(data)
    put_upload(blob_zones, "up/5", corrupt, manifest_for(FILES))
    result = check(blob_zones, "up/5")
    bad = next(f for f in result.files if f.path == "drive.bag")
    with pytest.raises(ingest.ChecksumMismatchError) as err:
        ingest.verify_checksum(
            blob_zones, "up/5", bad.path, etag=bad.etag, sha256=bad.sha256, size=bad.size
        )
    assert "landing/up/5/drive.bag" in str(err.value)
    assert hashlib.sha256(corrupt["drive.bag"]).hexdigest() in str(err.value)

    moved = ingest.fail_upload(
        blob_zones,
        store,
        upload_prefix="up/5",
        step="checksum",
        reason=str(err.value),
        details=None,
        instance_id="i-5",
        datastream_id=None,
    )
    assert moved["moved"] == len(FILES) + 1
    assert names(blob_zones, Zone.LANDING) == set()
    assert names(blob_zones, Zone.RAW) == set()
    error_doc, _ = blob_zones.read_json(Zone.ERROR, "up/5/_error.json", max_bytes=65536)
    assert error_doc["step"] == "checksum"
    assert error_doc["instance_id"] == "i-5"
    # Nothing lost: the error zone holds the exact bytes that were uploaded.
    assert (
        blob_zones.read_bytes(Zone.ERROR, "up/5/drive.bag", max_bytes=10**7).data
        == corrupt["drive.bag"]
    )


def test_same_measurement_id_with_other_content_is_a_conflict_with_both_hashes(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    put_upload(blob_zones, "up/a", FILES, manifest_for(FILES, measurement_id="drive-42"))
    other = {**FILES, "drive.bag": b"#ROSBAG V2.0\n other bytes"}
    put_upload(blob_zones, "up/b", other, manifest_for(other, measurement_id="drive-42"))
    first = check(blob_zones, "up/a")
    second = check(blob_zones, "up/b")
    won = register(blob_zones, store, "up/a", first.manifest_etag, "ds-a")
    with pytest.raises(ConflictError) as err:
        register(blob_zones, store, "up/b", second.manifest_etag, "ds-b")
    stored_hash = store.get_measurement(won.measurement_id).content_sha256
    assert stored_hash in str(err.value)
    assert "up/b" in str(err.value)
    assert len(store.list_datastreams("drive-42")) == 1


def test_a_landing_blob_overwritten_after_validation_is_not_copied(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    put_upload(blob_zones, "up/6", FILES)
    result = check(blob_zones, "up/6")
    registration = register(blob_zones, store, "up/6", result.manifest_etag, "ds-6")
    item = next(f for f in result.files if f.path == "drive.bag")
    blob_zones.write_bytes(Zone.LANDING, "up/6/drive.bag", b"#ROSBAG V2.0\n replaced")
    copied = ingest.copy_to_raw_and_archive(
        blob_zones,
        upload_prefix="up/6",
        path=item.path,
        etag=item.etag,
        sha256=item.sha256,
        raw_prefix=registration.raw_prefix,
    )
    assert copied["source_changed"] is True
    assert names(blob_zones, Zone.RAW) == set()
    assert names(blob_zones, Zone.ARCHIVE) == set()


def test_unlisted_files_warn_or_fail_by_policy(blob_zones: BlobZones) -> None:
    put_upload(blob_zones, "up/7", FILES)
    blob_zones.write_bytes(Zone.LANDING, "up/7/stray.log", b"x")
    assert check(blob_zones, "up/7").warnings == ["unlisted file in upload: stray.log"]
    with pytest.raises(InvalidInputError, match=r"stray\.log"):
        check(blob_zones, "up/7", UnlistedFilePolicy.FAIL)


def test_an_oversized_manifest_is_refused_before_download(blob_zones: BlobZones) -> None:
    manifest = manifest_for(FILES, tags=["x" * 60] * 60)
    put_upload(blob_zones, "up/8", FILES, manifest)
    with pytest.raises(InvalidInputError, match=r"manifest\.json"):
        ingest.check_upload(
            blob_zones, "up/8", max_manifest_bytes=1024, unlisted=UnlistedFilePolicy.WARN
        )


def test_a_hostile_manifest_path_is_rejected_before_any_storage_call(blob_zones: BlobZones) -> None:
    manifest = manifest_for(FILES)
    manifest["files"][0]["path"] = "../../raw/evil.bag"
    put_upload(blob_zones, "up/9", FILES, manifest)
    with pytest.raises(InvalidInputError) as err:
        check(blob_zones, "up/9")
    assert err.value.field == "files[0].path"
    assert names(blob_zones, Zone.RAW) == set()


def test_error_marker_holds_step_reason_and_ids_not_tracebacks_or_server_paths(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    """_error.json is for the uploader: step, a one-line reason and the ids; the traceback and
    the server paths in the failure text stay in the log."""
    blob_zones.write_bytes(Zone.LANDING, "up/leak/drive.bag", b"x" * 10)
    failure = (
        "Activity function 'ingest_hash_file' failed: up/leak/drive.bag: read timed out in "
        "/home/site/wwwroot/.python_packages/lib/site-packages/azure/core/pipeline.py\n"
        "Traceback (most recent call last):\n"
        '  File "/home/site/wwwroot/dataops/ingest/verify.py", line 42, in verify_checksum\n'
        "    raise ChecksumMismatchError(path)\n"
    )
    ingest.fail_upload(
        blob_zones,
        store,
        upload_prefix="up/leak",
        step="checksum",
        reason=failure,
        details=failure,
        instance_id="i-leak",
        datastream_id=None,
    )
    record, _ = blob_zones.read_json(Zone.ERROR, "up/leak/_error.json", max_bytes=65536)
    assert record["step"] == "checksum"
    assert record["reason"] == (
        "Activity function 'ingest_hash_file' failed: up/leak/drive.bag: read timed out in <path>"
    )
    assert record["instance_id"] == "i-leak"
    assert record["measurement_id"] is None and record["datastream_id"] is None
    text = json.dumps(record)
    assert "Traceback" not in text
    assert "/home/site" not in text
    assert "verify.py" not in text
