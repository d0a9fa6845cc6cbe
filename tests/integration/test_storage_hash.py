"""Streamed SHA-256 against real Azurite: exact digests, version pinning, bounded memory."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from dataops.errors import EtagMismatchError, NotFoundError
from dataops.paths import Zone
from dataops.storage import DEFAULT_CHUNK_SIZE, BlobZones
from dataops.storage import hashing as hashing_module
from tests.integration.conftest import TEST_CHUNK_SIZE, BlobZonesFactory

pytestmark = pytest.mark.azurite


@pytest.mark.parametrize(
    "size",
    [0, 1, TEST_CHUNK_SIZE, 3 * TEST_CHUNK_SIZE + 17],
    ids=["empty", "one-byte", "one-chunk", "chunks-and-remainder"],
)
def test_hash_equals_hashlib(blob_zones: BlobZones, size: int) -> None:
    data = os.urandom(size)
    etag = blob_zones.write_bytes(Zone.LANDING, "up/file.bin", data)

    digest = blob_zones.sha256(Zone.LANDING, "up/file.bin")

    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == size
    assert digest.etag == etag


def test_hash_with_stale_etag_is_refused(blob_zones: BlobZones) -> None:
    old = blob_zones.write_bytes(Zone.LANDING, "up/file.bin", b"first")
    blob_zones.write_bytes(Zone.LANDING, "up/file.bin", b"second")

    with pytest.raises(EtagMismatchError):
        blob_zones.sha256(Zone.LANDING, "up/file.bin", etag=old)


def test_overwrite_during_hash_is_an_error_not_a_mixed_hash(
    blob_zones: BlobZones, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob_zones.write_bytes(Zone.LANDING, "up/file.bin", b"a" * (4 * TEST_CHUNK_SIZE))
    original_write = hashing_module._HashSink.write
    calls = 0

    def write_then_overwrite(sink: hashing_module._HashSink, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            # The uploader replaces the blob after the first chunk has been hashed.
            blob_zones.write_bytes(Zone.LANDING, "up/file.bin", b"b" * (4 * TEST_CHUNK_SIZE))
        return original_write(sink, data)

    monkeypatch.setattr(hashing_module._HashSink, "write", write_then_overwrite)

    with pytest.raises(EtagMismatchError):
        blob_zones.sha256(Zone.LANDING, "up/file.bin")
    assert calls == 1


def test_hash_of_missing_blob_is_not_found(blob_zones: BlobZones) -> None:
    with pytest.raises(NotFoundError, match=r"landing/up/missing\.bin"):
        blob_zones.sha256(Zone.LANDING, "up/missing.bin")


def test_hash_memory_stays_bounded(make_blob_zones: BlobZonesFactory, tmp_path: Path) -> None:
    zones = make_blob_zones(chunk_size=DEFAULT_CHUNK_SIZE)
    size = 256 * 1024 * 1024
    local = tmp_path / "big.bin"
    expected = hashlib.sha256()
    with local.open("wb") as handle:
        for _ in range(size // (1024 * 1024)):
            block = os.urandom(1024 * 1024)
            expected.update(block)
            handle.write(block)

    tracemalloc.start()
    try:
        uploaded = zones.upload_file(Zone.LANDING, "up/big.bin", local)
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = zones.sha256(Zone.LANDING, "up/big.bin")
        _, hash_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert digest.sha256 == uploaded.sha256 == expected.hexdigest()
    assert digest.size == size
    # A few chunks in flight (plus the SDK's pre-sized list per range), never the whole blob.
    assert hash_peak < 96 * 1024 * 1024, hash_peak
    assert upload_peak < size // 2, upload_peak
