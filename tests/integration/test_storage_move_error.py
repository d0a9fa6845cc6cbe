"""Moving a failed upload to the error zone: marker, nothing left behind, crash-safe re-run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dataops.errors import EtagMismatchError, RetryableError
from dataops.paths import Zone
from dataops.storage import BlobZones

pytestmark = pytest.mark.azurite

PREFIX = "vin123/2026-01-02T10-00-00"
FILES = {
    f"{PREFIX}/manifest.json": b'{"files": []}',
    f"{PREFIX}/bag/metadata.yaml": b"rosbag2_bagfile_information: {}",
    f"{PREFIX}/bag/bag_0.mcap": b"\x89MCAP0\r\n" + b"x" * 300_000,
}


def _seed(zones: BlobZones) -> None:
    for path, data in FILES.items():
        zones.write_bytes(Zone.LANDING, path, data)
    zones.write_bytes(Zone.LANDING, "vin123/other/keep.bin", b"not in the prefix")


def _error_zone_contents(zones: BlobZones) -> dict[str, bytes]:
    return {
        info.path: zones.read_bytes(Zone.ERROR, info.path, max_bytes=1 << 20).data
        for info in zones.list_blobs(Zone.ERROR, PREFIX)
    }


def test_move_writes_marker_and_leaves_nothing_behind(blob_zones: BlobZones) -> None:
    _seed(blob_zones)
    when = datetime(2026, 1, 2, 11, 0, tzinfo=UTC)

    result = blob_zones.move_to_error(
        Zone.LANDING,
        PREFIX,
        step="validate",
        reason="sha256 mismatch",
        details={"file": "bag/bag_0.mcap"},
        instance_id="ingest-abc",
        now=when,
    )

    assert sorted(result.moved) == sorted(FILES)
    assert list(blob_zones.list_blobs(Zone.LANDING, PREFIX)) == []
    assert [b.path for b in blob_zones.list_blobs(Zone.LANDING)] == ["vin123/other/keep.bin"]
    contents = _error_zone_contents(blob_zones)
    marker = f"{PREFIX}/_error.json"
    assert result.marker_path == marker
    assert {k: v for k, v in contents.items() if k != marker} == FILES
    record, _etag = blob_zones.read_json(Zone.ERROR, marker, max_bytes=4096)
    assert record == {
        "step": "validate",
        "reason": "sha256 mismatch",
        "details": {"file": "bag/bag_0.mcap"},
        "measurement_id": None,
        "datastream_id": None,
        "instance_id": "ingest-abc",
        "time": when.isoformat(),
        "source_zone": "landing",
        "source_prefix": PREFIX,
    }


def test_rerun_after_crash_between_copy_and_delete_converges(
    blob_zones: BlobZones, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(blob_zones)
    real_delete = BlobZones.delete
    deletes = 0

    def crash_on_second_delete(self: BlobZones, zone: Zone, path: str, *, etag: str) -> None:
        nonlocal deletes
        deletes += 1
        if deletes == 2:
            raise RetryableError("simulated crash: copy done, delete not")
        real_delete(self, zone, path, etag=etag)

    monkeypatch.setattr(BlobZones, "delete", crash_on_second_delete)
    with pytest.raises(RetryableError):
        blob_zones.move_to_error(Zone.LANDING, PREFIX, step="copy", reason="boom")
    monkeypatch.undo()
    # Midway: one source deleted, one copied but still in landing, one not copied yet.
    assert len(list(blob_zones.list_blobs(Zone.LANDING, PREFIX))) == 2

    result = blob_zones.move_to_error(Zone.LANDING, PREFIX, step="copy", reason="boom")

    assert list(blob_zones.list_blobs(Zone.LANDING, PREFIX)) == []
    contents = _error_zone_contents(blob_zones)
    assert {k: v for k, v in contents.items() if not k.endswith("_error.json")} == FILES
    assert len(result.moved) == 2


def test_source_changed_after_listing_is_not_deleted(
    blob_zones: BlobZones, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob_zones.write_bytes(Zone.LANDING, f"{PREFIX}/late.bin", b"v1")
    real_copy = BlobZones.copy

    def overwrite_then_copy(self: BlobZones, *args: object, **kwargs: object) -> object:
        blob_zones.write_bytes(Zone.LANDING, f"{PREFIX}/late.bin", b"v2 from a late upload")
        return real_copy(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(BlobZones, "copy", overwrite_then_copy)
    with pytest.raises(EtagMismatchError):
        blob_zones.move_to_error(Zone.LANDING, PREFIX, step="copy", reason="boom")
    monkeypatch.undo()

    kept = blob_zones.read_bytes(Zone.LANDING, f"{PREFIX}/late.bin", max_bytes=100)
    assert kept.data == b"v2 from a late upload"


def test_source_blob_named_like_the_marker_is_kept(blob_zones: BlobZones) -> None:
    blob_zones.write_bytes(Zone.LANDING, f"{PREFIX}/_error.json", b"uploader's own file")

    blob_zones.move_to_error(Zone.LANDING, PREFIX, step="validate", reason="bad")

    shadowed = blob_zones.read_bytes(Zone.ERROR, f"{PREFIX}/_error.json.source", max_bytes=100)
    assert shadowed.data == b"uploader's own file"
    record, _ = blob_zones.read_json(Zone.ERROR, f"{PREFIX}/_error.json", max_bytes=4096)
    assert record["reason"] == "bad"
