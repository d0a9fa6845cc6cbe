"""Fixtures of the labeling tests: one Azurite per session, fresh containers per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops.storage import BlobZones, ConnectionStringZones
from devhost.services.azurite import AzuriteBlob
from tests.azurite import started_azurite


@pytest.fixture(scope="session")
def labeling_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteBlob]:
    """A running Azurite blob service shared by the labeling tests."""
    with started_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture
def zones(labeling_azurite: AzuriteBlob, tmp_path: Path) -> Iterator[BlobZones]:
    """Zones on containers unique to this test (``t<random>-<zone>``)."""
    prefix = f"t{uuid.uuid4().hex[:12]}-"
    built = BlobZones(
        ConnectionStringZones(labeling_azurite.connection_string, container_prefix=prefix)
    )
    built.ensure_containers()
    try:
        yield built
    finally:
        built.close()
