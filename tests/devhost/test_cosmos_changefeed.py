"""The ``_ts`` poller for cosmosdb-server: each write at least once, re-reads skipped by etag."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from azure.cosmos import CosmosClient, PartitionKey

from devhost.events.changefeed import CosmosTsSource

pytestmark = [
    pytest.mark.cosmos,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]


@pytest.fixture(scope="module")
def database(cosmos_client: CosmosClient) -> Iterator[object]:
    """A database of this module on the session's cosmosdb-server."""
    name = f"devhost-{uuid.uuid4().hex[:8]}"
    db = cosmos_client.create_database_if_not_exists(name)
    db.create_container_if_not_exists("datastreams", PartitionKey("/measurement_id"))
    yield db
    cosmos_client.delete_database(name)


def test_ts_polling_delivers_each_write_once(database: object) -> None:
    container = database.get_container_client("datastreams")  # type: ignore[attr-defined]
    source = CosmosTsSource(database)
    container.upsert_item({"id": "a", "measurement_id": "m", "state": "CREATED"})
    container.upsert_item({"id": "b", "measurement_id": "m", "state": "CREATED"})
    first = source.read_changes("datastreams", None)
    assert sorted(d["id"] for d in first.documents) == ["a", "b"]
    # Same second, nothing new: the etags seen at the checkpoint's _ts are skipped.
    again = source.read_changes("datastreams", first.checkpoint)
    assert again.documents == []
    container.upsert_item({"id": "a", "measurement_id": "m", "state": "COMPLETED"})
    changed = source.read_changes("datastreams", again.checkpoint)
    assert [(d["id"], d["state"]) for d in changed.documents] == [("a", "COMPLETED")]
    time.sleep(1.1)  # _ts has one-second resolution
    container.upsert_item({"id": "c", "measurement_id": "m"})
    later = source.read_changes("datastreams", changed.checkpoint)
    assert [d["id"] for d in later.documents] == ["c"]
    assert json.loads(later.checkpoint)["ts"] >= json.loads(changed.checkpoint)["ts"]


def test_ts_polling_respects_max_items_without_losing_documents(database: object) -> None:
    container = database.get_container_client("datastreams")  # type: ignore[attr-defined]
    for i in range(5):
        container.upsert_item({"id": f"n{i}", "measurement_id": "m2"})
    source = CosmosTsSource(database)
    seen: list[str] = []
    checkpoint = None
    for _ in range(10):
        batch = source.read_changes("datastreams", checkpoint, max_items=2)
        seen.extend(d["id"] for d in batch.documents if d["id"].startswith("n"))
        checkpoint = batch.checkpoint
    assert sorted(seen) == [f"n{i}" for i in range(5)]
