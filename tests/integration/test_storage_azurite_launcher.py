"""The Azurite launcher: answers on its port, stops exactly its own process group."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from dataops.paths import Zone
from devhost.services.azurite import AzuriteBlob, AzuriteError
from tests.azurite import fresh_account

pytestmark = pytest.mark.azurite


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_temp_instance_starts_creates_zones_and_cleans_up() -> None:
    with AzuriteBlob() as server:
        pid = server.pid
        data_dir = server.data_dir
        assert pid is not None and _alive(pid)
        assert server.blob_endpoint.startswith("http://127.0.0.1:")
        server.create_zone_containers(container_prefix="z-")
        service = BlobServiceClient.from_connection_string(server.connection_string)
        names = {container.name for container in service.list_containers()}
        assert names == {f"z-{zone.value}" for zone in Zone}
    assert not _alive(pid)
    assert not data_dir.exists()


def test_given_data_dir_is_kept(tmp_path: Path) -> None:
    with AzuriteBlob(tmp_path / "az") as server:
        server.create_zone_containers(zones=[Zone.RAW])
    assert (tmp_path / "az").is_dir()
    assert any((tmp_path / "az").iterdir())


def test_busy_port_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = AzuriteBlob(tmp_path, port=port, startup_timeout_s=10)
        with pytest.raises(AzuriteError, match="did not start"):
            server.start()
        assert server.pid is None


def test_test_accounts_keep_containers_of_the_same_name_apart(azurite: AzuriteBlob) -> None:
    """Two apps under test may name a container alike: each account sees only its own blobs."""
    name = f"raw{uuid.uuid4().hex[:12]}"
    first, second = (
        BlobServiceClient.from_connection_string(fresh_account(azurite)) for _ in range(2)
    )
    for service, data in ((first, b"first"), (second, b"second")):
        service.create_container(name).upload_blob("drive.bag", data)
    for service, data in ((first, b"first"), (second, b"second")):
        blob = service.get_blob_client(name, "drive.bag")
        assert blob.download_blob().readall() == data
    # The development account does not see them either.
    development = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert not development.get_container_client(name).exists()
    with pytest.raises(AzuriteError, match="not served"):
        azurite.connection_string_for("nosuchaccount")
