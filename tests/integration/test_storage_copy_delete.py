"""Server-side copy (etag-guarded, verified) and conditional delete against real Azurite."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dataops.errors import EtagMismatchError, NotFoundError
from dataops.paths import Zone
from dataops.storage import BlobZones, CopyVerificationError

pytestmark = pytest.mark.azurite


def _upload(zones: BlobZones, tmp_path: Path, path: str, data: bytes) -> str:
    local = tmp_path / "upload.bin"
    local.write_bytes(data)
    return zones.upload_file(Zone.LANDING, path, local).etag


def test_copy_is_verified_and_identical(blob_zones: BlobZones, tmp_path: Path) -> None:
    data = os.urandom(700_000)  # several blocks at the test chunk size
    etag = _upload(blob_zones, tmp_path, "up/a.bin", data)

    result = blob_zones.copy(
        Zone.LANDING, "up/a.bin", Zone.RAW, "2026/01/02/a.bin", source_etag=etag
    )

    assert result.size == len(data)
    assert set(result.verified_by) >= {"size", "content_md5", "sha256_metadata"}
    assert not result.skipped
    copied = blob_zones.sha256(Zone.RAW, "2026/01/02/a.bin")
    assert copied.sha256 == hashlib.sha256(data).hexdigest()
    assert copied.etag == result.destination_etag
    assert blob_zones.get_info(Zone.RAW, "2026/01/02/a.bin").sha256 == copied.sha256


def test_copy_with_rehash_and_recorded_hash(blob_zones: BlobZones) -> None:
    data = b"measurement bytes"
    etag = blob_zones.write_bytes(Zone.LANDING, "up/b.bin", data)  # no sha256 metadata
    expected = hashlib.sha256(data).hexdigest()

    result = blob_zones.copy(
        Zone.LANDING,
        "up/b.bin",
        Zone.ARCHIVE,
        source_etag=etag,
        expected_sha256=expected,
        rehash=True,
    )

    assert "rehash" in result.verified_by
    assert blob_zones.get_info(Zone.ARCHIVE, "up/b.bin").sha256 == expected


def test_copy_refused_when_source_changed_after_etag_read(blob_zones: BlobZones) -> None:
    etag = blob_zones.write_bytes(Zone.LANDING, "up/c.bin", b"validated content")
    blob_zones.write_bytes(Zone.LANDING, "up/c.bin", b"replaced by the uploader")

    with pytest.raises(EtagMismatchError):
        blob_zones.copy(Zone.LANDING, "up/c.bin", Zone.RAW, source_etag=etag)

    with pytest.raises(NotFoundError):
        blob_zones.get_info(Zone.RAW, "up/c.bin")


def test_copy_source_condition_enforced_by_the_service(
    blob_zones: BlobZones, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy request itself carries the source etag, not only our pre-check."""
    from azure.storage.blob import BlobClient

    etag = blob_zones.write_bytes(Zone.LANDING, "up/d.bin", b"v1")
    original = BlobClient.get_blob_properties
    overwritten = False

    def read_then_overwrite(self: BlobClient, **kwargs: object) -> object:
        nonlocal overwritten
        props = original(self, **kwargs)  # type: ignore[arg-type]
        if self.container_name.endswith("landing") and not overwritten:
            overwritten = True  # the race: overwrite between our check and the copy request
            blob_zones.write_bytes(Zone.LANDING, "up/d.bin", b"v2")
        return props

    monkeypatch.setattr(BlobClient, "get_blob_properties", read_then_overwrite)

    with pytest.raises(EtagMismatchError):
        blob_zones.copy(Zone.LANDING, "up/d.bin", Zone.RAW, source_etag=etag)
    monkeypatch.undo()
    assert overwritten
    with pytest.raises(NotFoundError):
        blob_zones.get_info(Zone.RAW, "up/d.bin")


def test_copy_failing_verification_is_deleted(blob_zones: BlobZones) -> None:
    etag = blob_zones.write_bytes(Zone.LANDING, "up/e.bin", b"actual bytes")

    with pytest.raises(CopyVerificationError, match="SHA-256 of the copy"):
        blob_zones.copy(
            Zone.LANDING,
            "up/e.bin",
            Zone.RAW,
            source_etag=etag,
            expected_sha256="0" * 64,
            rehash=True,
        )

    with pytest.raises(NotFoundError):
        blob_zones.get_info(Zone.RAW, "up/e.bin")
    assert blob_zones.get_info(Zone.LANDING, "up/e.bin").etag == etag


def test_copy_again_skips_a_verified_destination(blob_zones: BlobZones) -> None:
    etag = blob_zones.write_bytes(Zone.LANDING, "up/f.bin", b"same")
    first = blob_zones.copy(Zone.LANDING, "up/f.bin", Zone.RAW, source_etag=etag)

    second = blob_zones.copy(Zone.LANDING, "up/f.bin", Zone.RAW, source_etag=etag)

    assert second.skipped
    assert second.destination_etag == first.destination_etag


def test_copy_of_missing_source_is_refused(blob_zones: BlobZones) -> None:
    # Azurite answers an if-match on a missing blob with 412, Azure may say 404: both refuse.
    with pytest.raises((NotFoundError, EtagMismatchError)):
        blob_zones.copy(Zone.LANDING, "up/none.bin", Zone.RAW, source_etag='"0x1"')


def test_conditional_delete(blob_zones: BlobZones) -> None:
    old = blob_zones.write_bytes(Zone.LANDING, "up/g.bin", b"v1")
    new = blob_zones.write_bytes(Zone.LANDING, "up/g.bin", b"v2")

    with pytest.raises(EtagMismatchError):
        blob_zones.delete(Zone.LANDING, "up/g.bin", etag=old)
    assert blob_zones.get_info(Zone.LANDING, "up/g.bin").etag == new

    blob_zones.delete(Zone.LANDING, "up/g.bin", etag=new)
    with pytest.raises(NotFoundError):
        blob_zones.get_info(Zone.LANDING, "up/g.bin")
