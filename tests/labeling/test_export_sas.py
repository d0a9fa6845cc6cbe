"""Partner SAS on Azurite: what the read SAS and the write SAS can and cannot do."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient

from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones
from dataops.storage.export_zones import export_container_client
from dataops.storage.sas import (
    ExportLinks,
    export_links,
    grant_export_access,
    revoke_export_access,
)

pytestmark = pytest.mark.azurite


def _export(
    zones: BlobZones, *, lifetime: timedelta = timedelta(hours=1)
) -> tuple[str, ExportLinks]:
    export_id = uuid.uuid4().hex
    for zone in (Zone.SHARE, Zone.LABELED):
        export_container_client(zones, zone, export_id).create_container()
    package = export_container_client(zones, Zone.SHARE, export_id)
    package.upload_blob("package.json", b'{"items": []}')
    package.upload_blob("images/cam/1.jpg", b"jpeg bytes")
    expires_at = datetime.now(UTC) + lifetime
    grant_export_access(zones, export_id, expires_at=expires_at)
    return export_id, export_links(zones, export_id, expires_at=expires_at)


def _status(call: object) -> int:
    assert callable(call)
    with pytest.raises(HttpResponseError) as caught:
        call()
    return int(caught.value.status_code or 0)


def test_read_sas_reads_and_lists_the_package_and_nothing_else(zones: BlobZones) -> None:
    export_id, links = _export(zones)
    assert links.signed_with == "stored_access_policy"
    package = ContainerClient.from_container_url(links.package_url)
    assert sorted(b.name for b in package.list_blobs()) == ["images/cam/1.jpg", "package.json"]
    assert package.download_blob("images/cam/1.jpg").readall() == b"jpeg bytes"
    # Cannot write, overwrite or delete in the package.
    assert _status(lambda: package.upload_blob("new.json", b"{}")) == 403
    assert _status(lambda: package.upload_blob("package.json", b"{}", overwrite=True)) == 403
    assert _status(lambda: package.delete_blob("package.json")) == 403
    # The same token on another container (the labels one, another export's package): refused.
    token = links.package_url.split("?", 1)[1]
    labels = export_container_client(zones, Zone.LABELED, export_id)
    other = export_container_client(zones, Zone.SHARE, uuid.uuid4().hex)
    other.create_container()
    other.upload_blob("package.json", b"secret")
    for url in (labels.url, other.url, zones.container_url(Zone.EXTRACTED)):
        foreign = ContainerClient.from_container_url(f"{url}?{token}")
        assert _status(lambda c=foreign: list(c.list_blobs())) == 403
    foreign_blob = ContainerClient.from_container_url(f"{other.url}?{token}")
    assert _status(lambda: foreign_blob.download_blob("package.json").readall()) == 403


def test_write_sas_writes_labels_but_cannot_read_or_list(zones: BlobZones) -> None:
    export_id, links = _export(zones)
    labels = ContainerClient.from_container_url(links.labels_url)
    labels.upload_blob("labels/coco.json", b'{"annotations": []}')
    own = export_container_client(zones, Zone.LABELED, export_id)
    assert own.download_blob("labels/coco.json").readall() == b'{"annotations": []}'
    assert _status(lambda: list(labels.list_blobs())) == 403
    assert _status(lambda: labels.download_blob("labels/coco.json").readall()) == 403
    assert _status(lambda: labels.delete_blob("labels/coco.json")) == 403
    token = links.labels_url.split("?", 1)[1]
    package = ContainerClient.from_container_url(
        f"{export_container_client(zones, Zone.SHARE, export_id).url}?{token}"
    )
    assert _status(lambda: package.download_blob("package.json").readall()) == 403
    assert _status(lambda: list(package.list_blobs())) == 403


def test_both_sas_stop_working_after_revoke(zones: BlobZones) -> None:
    export_id, links = _export(zones)
    package = ContainerClient.from_container_url(links.package_url)
    labels = ContainerClient.from_container_url(links.labels_url)
    assert package.download_blob("package.json").readall() == b'{"items": []}'
    assert revoke_export_access(zones, export_id) is True
    assert _status(lambda: package.download_blob("package.json").readall()) == 403
    assert _status(lambda: labels.upload_blob("late.json", b"{}")) == 403


def test_read_sas_fails_after_expiry(zones: BlobZones) -> None:
    _, links = _export(zones, lifetime=timedelta(seconds=2))
    package = ContainerClient.from_container_url(links.package_url)
    assert package.download_blob("package.json").readall() == b'{"items": []}'
    # Until just past the expiry the links carry (the SAS holds it to the second, rounded down).
    time.sleep(max(0.0, (links.expires_at - datetime.now(UTC)).total_seconds() + 0.1))
    assert _status(lambda: package.download_blob("package.json").readall()) == 403
    labels = ContainerClient.from_container_url(links.labels_url)
    assert _status(lambda: labels.upload_blob("late.json", b"{}")) == 403


def test_links_to_an_https_account_are_https_only() -> None:
    # Signing with an account key is local: no request reaches this (non-existent) account.
    key = "a2V5LWZvci1zaWduaW5nLW9ubHk="
    zones = BlobZones(
        ConnectionStringZones(
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};"
            "EndpointSuffix=core.windows.net"
        )
    )
    links = export_links(zones, uuid.uuid4().hex, expires_at=datetime.now(UTC))
    for url in (links.package_url, links.labels_url):
        assert url.startswith("https://acct.blob.core.windows.net/")
        assert "spr=https" in url
    zones.close()
