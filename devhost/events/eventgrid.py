"""Blob-created events from Azurite: poll containers, remember (name, etag), emit Event Grid events.

Azurite has neither Event Grid nor a blob change feed, so the poller lists every watched container
and treats a new name or a changed etag as ``Microsoft.Storage.BlobCreated``. A subscription may
watch containers by name prefix (``"container": "labeled-*"``: one container per labeling
export, created at run time); those are found by listing containers on every poll.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from devhost.db import Database
from devhost.durable.clock import Clock
from devhost.durable.history import format_time
from devhost.events.delivery import DeliveryQueue
from devhost.events.subscriptions import BLOB_CREATED, Subscription

__all__ = [
    "AzureBlobLister",
    "BlobInfo",
    "BlobLister",
    "BlobPoller",
    "blob_created_event",
    "to_cloud_event",
]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS blob_seen (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (container, name)
);
"""


@dataclass(frozen=True)
class BlobInfo:
    """What the poller needs of a listed blob."""

    name: str
    etag: str
    size: int
    content_type: str | None
    blob_type: str


class BlobLister(Protocol):
    """Lists the blobs of a container (Azurite in devhost, a fake in unit tests)."""

    account_name: str
    blob_endpoint: str

    def list_blobs(self, container: str) -> list[BlobInfo]:
        """All blobs of ``container`` (empty if it does not exist)."""
        ...

    def list_containers(self, name_starts_with: str) -> list[str]:
        """Names of the containers whose name starts with ``name_starts_with``."""
        ...


class AzureBlobLister:
    """``BlobLister`` over azure-storage-blob (Azurite connection string)."""

    def __init__(self, connection_string: str) -> None:
        from azure.storage.blob import BlobServiceClient

        self._client = BlobServiceClient.from_connection_string(connection_string)
        self.account_name = str(self._client.account_name)
        self.blob_endpoint = self._client.url.rstrip("/")

    def list_blobs(self, container: str) -> list[BlobInfo]:
        """List one container; a missing container is empty, not an error."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self._client.get_container_client(container)
        try:
            return [
                BlobInfo(
                    name=b.name,
                    etag=str(b.etag),
                    size=int(b.size or 0),
                    content_type=b.content_settings.content_type if b.content_settings else None,
                    blob_type=str(getattr(b.blob_type, "value", b.blob_type) or "BlockBlob"),
                )
                for b in client.list_blobs()
            ]
        except ResourceNotFoundError:
            return []

    def list_containers(self, name_starts_with: str) -> list[str]:
        """Containers by name prefix (the service filters; deleted ones are not listed)."""
        return [c.name for c in self._client.list_containers(name_starts_with=name_starts_with)]


def blob_created_event(
    *, account: str, endpoint: str, container: str, blob: BlobInfo, now: datetime
) -> dict[str, Any]:
    """A ``Microsoft.Storage.BlobCreated`` event in the Event Grid schema."""
    sequencer = hashlib.sha256(f"{container}/{blob.name}/{blob.etag}".encode()).hexdigest()[:32]
    return {
        "id": str(uuid.uuid4()),
        "topic": (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/devhost/providers/"
            f"Microsoft.Storage/storageAccounts/{account}"
        ),
        "subject": f"/blobServices/default/containers/{container}/blobs/{blob.name}",
        "eventType": BLOB_CREATED,
        "eventTime": format_time(now),
        "dataVersion": "",
        "metadataVersion": "1",
        "data": {
            "api": "PutBlob",
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "eTag": blob.etag,
            "contentType": blob.content_type or "application/octet-stream",
            "contentLength": blob.size,
            "blobType": blob.blob_type,
            "url": f"{endpoint}/{container}/{blob.name}",
            "sequencer": sequencer,
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        },
    }


def to_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema (for subscriptions that ask for it)."""
    return {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "datacontenttype": "application/json",
        "data": event["data"],
    }


@dataclass(eq=False)
class BlobPoller:
    """Turns new or changed blobs in watched containers into queued deliveries."""

    db: Database
    queue: DeliveryQueue
    subscriptions: list[Subscription]
    lister: BlobLister
    clock: Clock

    def __post_init__(self) -> None:
        self.db.executescript(SCHEMA)

    @property
    def containers(self) -> list[str]:
        """Containers some subscription watches by name."""
        return sorted({s.container for s in self.subscriptions if s.container_prefix is None})

    @property
    def container_prefixes(self) -> list[str]:
        """Name prefixes of containers some subscription watches (``labeled-*``)."""
        return sorted({p for s in self.subscriptions if (p := s.container_prefix) is not None})

    def watched_containers(self) -> list[str]:
        """The named containers and, listed now, those matching a prefix."""
        found = set(self.containers)
        for prefix in self.container_prefixes:
            found.update(self.lister.list_containers(prefix))
        return sorted(found)

    def poll_once(self) -> int:
        """List every watched container once; returns how many deliveries were queued."""
        queued = 0
        for container in self.watched_containers():
            blobs = self.lister.list_blobs(container)
            with self.db.transaction() as conn:
                seen = {
                    r["name"]: r["etag"]
                    for r in conn.execute(
                        "SELECT name, etag FROM blob_seen WHERE container=?", (container,)
                    )
                }
                for blob in blobs:
                    if seen.get(blob.name) == blob.etag:
                        continue
                    event = blob_created_event(
                        account=self.lister.account_name,
                        endpoint=self.lister.blob_endpoint,
                        container=container,
                        blob=blob,
                        now=self.clock.now(),
                    )
                    for sub in self.subscriptions:
                        if sub.accepts(container, event):
                            payload = (
                                to_cloud_event(event)
                                if sub.schema_ == "CloudEventSchemaV1_0"
                                else event
                            )
                            self.queue.enqueue(conn, f"eventgrid:{sub.name}", sub.function, payload)
                            queued += 1
                            log.info(
                                "event %s for %s -> %s", event["id"], event["subject"], sub.function
                            )
                    # Same transaction as the deliveries: nothing lost, nothing doubled.
                    conn.execute(
                        "INSERT OR REPLACE INTO blob_seen VALUES (?,?,?)",
                        (container, blob.name, blob.etag),
                    )
        if queued:
            self.queue.on_change()
        return queued
