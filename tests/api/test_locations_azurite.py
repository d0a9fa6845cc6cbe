"""The SAS the locations route hands out, tried on Azurite: it reads, it cannot write.

The route runs against the sqlite fleet; the blobs live in a fresh Azurite started here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient, ContainerClient

from activities import runtime
from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones
from dataops.store.sqlite import SqliteStore
from tests.api.conftest import READ_KEY, api_settings, seed
from tests.api.function_host import FunctionHost

pytestmark = pytest.mark.azurite

PREFIX = "2024/05/01/VIN-1/m-a1/ds-raw"


@pytest.fixture
def host(
    storage_account: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FunctionHost]:
    """Functions over a seeded sqlite store, with storage on Azurite and two blobs in raw."""
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    seed(store)
    zones = BlobZones(ConnectionStringZones(storage_account))
    zones.ensure_containers([Zone.RAW])
    zones.write_bytes(Zone.RAW, f"{PREFIX}/file-01.mcap", b"recording bytes")
    zones.write_bytes(Zone.RAW, f"{PREFIX}/file-02.mcap", b"more bytes")
    zones.write_bytes(Zone.RAW, "2024/05/01/VIN-2/other/secret.bin", b"not yours")
    settings = api_settings(storage_connection_string=storage_account)
    monkeypatch.setattr(runtime, "settings", lambda: settings)
    monkeypatch.setattr(runtime, "metadata_store", lambda: store)
    try:
        yield FunctionHost()
    finally:
        zones.close()
        store.close()


def _location(host: FunctionHost, **params: str) -> dict[str, object]:
    response = host.request(
        "GET", "/api/locations", params=params, headers={"x-functions-key": READ_KEY}
    )
    assert response.status == 200, response.body
    body: dict[str, object] = response.json()
    return body


def test_blob_sas_reads_but_cannot_write(host: FunctionHost) -> None:
    body = _location(host, datastream="ds-raw", path="file-01.mcap", sas="true")
    sas = body["sas"]
    assert isinstance(sas, dict)
    blob = BlobClient.from_blob_url(sas["url"])
    assert blob.download_blob().readall() == b"recording bytes"
    with pytest.raises(HttpResponseError) as denied:
        blob.upload_blob(b"overwritten", overwrite=True)
    assert denied.value.status_code == 403
    sibling = BlobClient.from_blob_url(str(sas["url"]).replace("file-01.mcap", "file-02.mcap", 1))
    with pytest.raises(HttpResponseError) as other:
        sibling.download_blob().readall()
    assert other.value.status_code == 403


def test_prefix_sas_lists_and_reads_but_cannot_write(host: FunctionHost) -> None:
    body = _location(host, datastream="ds-raw", sas="true")
    sas = body["sas"]
    assert isinstance(sas, dict)
    assert sas["scope"] == "container"
    container_url = str(body["url"]).split("/2024/", 1)[0]
    container = ContainerClient.from_container_url(f"{container_url}?{sas['token']}")
    names = [b.name for b in container.list_blobs(name_starts_with=str(body["path"]))]
    assert names == [f"{PREFIX}/file-01.mcap", f"{PREFIX}/file-02.mcap"]
    assert container.download_blob(names[1]).readall() == b"more bytes"
    with pytest.raises(HttpResponseError) as denied:
        container.upload_blob(f"{PREFIX}/new.bin", b"x")
    assert denied.value.status_code == 403


def test_location_without_sas_is_not_readable_anonymously(host: FunctionHost) -> None:
    body = _location(host, datastream="ds-raw", path="file-01.mcap")
    assert body["sas"] is None
    with pytest.raises(HttpResponseError):
        BlobClient.from_blob_url(str(body["url"])).download_blob().readall()
