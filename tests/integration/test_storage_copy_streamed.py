"""Copies from a source account that denies public access: streamed through the app, block by
block, against real Azurite. Bytes are verified; memory stays at a few download ranges."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.storage.blob import BlobBlock, BlobClient

from dataops.errors import EtagMismatchError
from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones, CopyVerificationError
from dataops.storage.models import SHA256_METADATA_KEY, CopyResult
from dataops.storage.zones import DEFAULT_CHUNK_SIZE, INTERNET_FACING_ZONES
from devhost.services.azurite import AzuriteBlob

pytestmark = pytest.mark.azurite
MIB = 1024 * 1024
ZonesFactory = Callable[[int], BlobZones]


class PrivateSourceZones(ConnectionStringZones):
    """Azurite zones under the Azure rule: internal zones are private accounts, so a copy out
    of them may not be server-side (what AccountUrlZones.server_side_copy answers)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_side_calls: list[tuple[Zone, Zone]] = []

    def server_side_copy(self, source_zone: Zone, destination_zone: Zone) -> bool:
        self.server_side_calls.append((source_zone, destination_zone))
        return source_zone in INTERNET_FACING_ZONES

    def copy_source_url(self, source_zone: Zone, path: str, destination_zone: Zone) -> str:
        if source_zone not in INTERNET_FACING_ZONES:
            raise AssertionError(f"server-side copy attempted from private zone {source_zone}")
        return super().copy_source_url(source_zone, path, destination_zone)


@pytest.fixture
def private_zones(azurite: AzuriteBlob) -> Iterator[ZonesFactory]:
    def make(chunk_size: int) -> BlobZones:
        clients = PrivateSourceZones(
            azurite.connection_string,
            container_prefix=f"t{uuid.uuid4().hex[:12]}-",
            chunk_size=chunk_size,
        )
        zones = BlobZones(clients)
        zones.ensure_containers()
        built.append(zones)
        return zones

    built: list[BlobZones] = []
    yield make
    for zones in built:
        zones.close()


def _write_source(zones: BlobZones, zone: Zone, path: str, size: int) -> tuple[str, str]:
    """Stage ``size`` random bytes as a blob without holding them all; (etag, sha256)."""
    blob: BlobClient = zones._clients.container(zone).get_blob_client(path)
    digest = hashlib.sha256()
    blocks: list[BlobBlock] = []
    left = size
    while left:
        data = os.urandom(min(left, 8 * MIB))
        digest.update(data)
        blocks.append(BlobBlock(block_id=f"src-{len(blocks):08d}"))
        blob.stage_block(blocks[-1].id, data, length=len(data))
        left -= len(data)
    response = blob.commit_block_list(blocks, metadata={SHA256_METADATA_KEY: digest.hexdigest()})
    return str(response["etag"]), digest.hexdigest()


def _copy_with_peak(zones: BlobZones, etag: str) -> tuple[CopyResult, int]:
    tracemalloc.start()
    try:
        result = zones.copy(
            Zone.ARCHIVE, "up/big.bin", Zone.LANDING, "rehydrated/big.bin", source_etag=etag
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def _check_identical(zones: BlobZones, result: CopyResult, sha256: str, size: int) -> None:
    copied = zones.sha256(Zone.LANDING, "rehydrated/big.bin")
    assert copied.sha256 == sha256 and copied.size == size
    info = zones.get_info(Zone.LANDING, "rehydrated/big.bin")
    assert info.sha256 == sha256
    assert info.content_md5 is not None
    assert result.verified_by[:1] == ("sha256_stream",)
    assert result.size == size


def test_copy_out_of_a_private_zone_streams_with_bounded_memory(
    private_zones: ZonesFactory,
) -> None:
    """32 MiB through 1 MiB ranges: byte-identical, Content-MD5 and sha256 recorded, and the
    traced peak far below the blob (the SDK pre-sizes a list of 8 bytes per range byte)."""
    zones: BlobZones = private_zones(1 * MIB)
    size = 32 * MIB
    etag, sha256 = _write_source(zones, Zone.ARCHIVE, "up/big.bin", size)

    result, peak = _copy_with_peak(zones, etag)

    _check_identical(zones, result, sha256, size)
    clients = zones._clients
    assert isinstance(clients, PrivateSourceZones)
    assert clients.server_side_calls == [(Zone.ARCHIVE, Zone.LANDING)]
    assert peak < 16 * MIB, peak


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_1_gib_copy_out_of_a_private_zone_stays_within_a_few_ranges(
    private_zones: ZonesFactory,
) -> None:
    """1 GiB with the production range size (8 MiB): memory does not grow with the blob."""
    zones: BlobZones = private_zones(DEFAULT_CHUNK_SIZE)
    size = 1024 * MIB
    etag, sha256 = _write_source(zones, Zone.ARCHIVE, "up/big.bin", size)

    result, peak = _copy_with_peak(zones, etag)

    _check_identical(zones, result, sha256, size)
    assert peak < 96 * MIB, peak


def test_a_streamed_copy_from_an_internet_facing_zone_stays_server_side(
    private_zones: ZonesFactory,
) -> None:
    """landing -> raw (ingest) keeps the server-side copy: landing's endpoint is public."""
    zones: BlobZones = private_zones(256 * 1024)
    etag, _ = _write_source(zones, Zone.LANDING, "up/a.bin", 700_000)
    result = zones.copy(Zone.LANDING, "up/a.bin", Zone.RAW, source_etag=etag)
    assert "sha256_stream" not in result.verified_by
    assert set(result.verified_by) >= {"size", "sha256_metadata"}


def test_a_source_whose_bytes_differ_from_its_hash_is_not_committed(
    private_zones: ZonesFactory,
) -> None:
    zones: BlobZones = private_zones(256 * 1024)
    blob = zones._clients.container(Zone.ARCHIVE).get_blob_client("up/bad.bin")
    blob.upload_blob(os.urandom(600_000), metadata={SHA256_METADATA_KEY: "0" * 64})
    etag = zones.get_info(Zone.ARCHIVE, "up/bad.bin").etag

    with pytest.raises(CopyVerificationError, match="SHA-256 of the source bytes"):
        zones.copy(Zone.ARCHIVE, "up/bad.bin", Zone.LANDING, "r/bad.bin", source_etag=etag)
    assert not list(zones.list_blobs(Zone.LANDING, "r"))


def test_a_source_changed_since_its_etag_was_read_is_refused(private_zones: ZonesFactory) -> None:
    zones: BlobZones = private_zones(256 * 1024)
    old_etag, _ = _write_source(zones, Zone.EXTRACTED, "x/a.bin", 300_000)
    _write_source(zones, Zone.EXTRACTED, "x/a.bin", 300_000)

    with pytest.raises(EtagMismatchError):
        zones.copy(Zone.EXTRACTED, "x/a.bin", Zone.SHARE, source_etag=old_etag)
    assert not list(zones.list_blobs(Zone.SHARE, "x"))


def test_a_second_streamed_copy_finds_the_verified_destination(private_zones: ZonesFactory) -> None:
    zones: BlobZones = private_zones(256 * 1024)
    etag, _ = _write_source(zones, Zone.EXTRACTED, "x/b.bin", 700_000)
    first = zones.copy(Zone.EXTRACTED, "x/b.bin", Zone.SHARE, source_etag=etag)
    again = zones.copy(Zone.EXTRACTED, "x/b.bin", Zone.SHARE, source_etag=etag)
    assert not first.skipped and again.skipped
    assert again.destination_etag == first.destination_etag
