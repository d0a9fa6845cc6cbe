"""Fixtures of the extract worker tests: recordings written into tmp_path per test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from azure.storage.blob import BlobServiceClient

from extract_worker.config import ExtractConfig, load_config
from tests.extract_worker.recordings import ROS_FORMATS, write_recording

if TYPE_CHECKING:
    from pathlib import Path

    from devhost.services.azurite import AzuriteBlob


@pytest.fixture(params=ROS_FORMATS)
def ros_recording(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The fixture drive in every ROS container: ROS 1 (plain, bz2, lz4), ROS 2, bare MCAP (ros2
    and ros1 profiles)."""
    return write_recording(str(request.param), tmp_path)


@pytest.fixture
def config() -> ExtractConfig:
    """The checked-in default config."""
    return load_config(None)


@pytest.fixture
def service(azurite: AzuriteBlob, monkeypatch: pytest.MonkeyPatch) -> BlobServiceClient:
    """Azurite with ``raw`` and ``extracted`` containers; workers reach it by connection string."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    client = BlobServiceClient.from_connection_string(azurite.connection_string)
    for name in ("raw", "extracted"):
        if not client.get_container_client(name).exists():
            client.create_container(name)
    return client
