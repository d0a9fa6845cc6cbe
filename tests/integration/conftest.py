"""Zones for the integration tests: fresh containers per test on the session's Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from dataops.storage import BlobZones, ConnectionStringZones
from devhost.services.azurite import AzuriteBlob

# Small chunks keep the multi-chunk cases fast; the memory test uses the production default.
TEST_CHUNK_SIZE = 256 * 1024

BlobZonesFactory = Callable[..., BlobZones]


@pytest.fixture
def make_blob_zones(azurite: AzuriteBlob) -> Iterator[BlobZonesFactory]:
    """Build BlobZones on containers unique to this test (``t<random>-<zone>``)."""
    built: list[BlobZones] = []

    def make(chunk_size: int = TEST_CHUNK_SIZE) -> BlobZones:
        prefix = f"t{uuid.uuid4().hex[:12]}-"
        zones = BlobZones(
            ConnectionStringZones(
                azurite.connection_string, container_prefix=prefix, chunk_size=chunk_size
            )
        )
        zones.ensure_containers()
        built.append(zones)
        return zones

    yield make
    for zones in built:
        zones.close()


@pytest.fixture
def blob_zones(make_blob_zones: BlobZonesFactory) -> BlobZones:
    """Fresh, isolated zones with small (256 KiB) chunks."""
    return make_blob_zones()
