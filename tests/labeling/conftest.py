"""Fixtures of the labeling tests: fresh containers per test on the session's Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops.storage import BlobZones, ConnectionStringZones
from devhost.services.azurite import AzuriteBlob


@pytest.fixture
def zones(azurite: AzuriteBlob, tmp_path: Path) -> Iterator[BlobZones]:
    """Zones on containers unique to this test (``t<random>-<zone>``)."""
    prefix = f"t{uuid.uuid4().hex[:12]}-"
    built = BlobZones(ConnectionStringZones(azurite.connection_string, container_prefix=prefix))
    built.ensure_containers()
    try:
        yield built
    finally:
        built.close()
