"""Contract: ``erase_documents`` removes one vehicle's documents for good and nothing else.

Checked below the store's own API, on what the backend holds: every item of every Cosmos
container (queried raw with azure-cosmos), every row of every SQLite table and the bytes of the
SQLite files. The other vehicle's items stay byte-identical (Cosmos ``_etag`` and ``_ts``
included: not even rewritten), and erasing again deletes nothing and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.cosmos import CosmosClient

from dataops.settings import Settings, StoreBackend
from dataops.store import MetadataStore
from dataops.store.cosmos_setup import CONTAINERS
from tests.e2e.erasure_support import RawItems, files_mentioning, sqlite_rows
from tests.erasure_seed import seed_two_vehicles


def _cosmos_items(client: CosmosClient, database: str) -> RawItems:
    found: RawItems = {}
    db = client.get_database_client(database)
    for name in CONTAINERS:
        container = db.get_container_client(name)
        for item in container.query_items("SELECT * FROM c", enable_cross_partition_query=True):
            found[(name, str(item["id"]))] = json.dumps(item, sort_keys=True)
    return found


@pytest.fixture
def raw_items(settings: Settings, request: pytest.FixtureRequest) -> Any:
    """A function that reads every item the backend holds, bypassing the store."""
    if settings.store_backend is StoreBackend.COSMOS:
        client: CosmosClient = request.getfixturevalue("cosmos_client")
        return lambda: _cosmos_items(client, settings.cosmos_database)
    return lambda: sqlite_rows(settings.sqlite_path)


def _naming(items: RawItems, tokens: list[str]) -> RawItems:
    return {key: text for key, text in items.items() if any(t in text for t in tokens)}


def test_erasing_one_vehicle_removes_its_documents_and_leaves_the_other_byte_identical(
    store: MetadataStore, settings: Settings, raw_items: Any
) -> None:
    """Measurement and its file records, datastreams and theirs, scenes (and change-log rows) of
    one vehicle go; the other vehicle's items are untouched; a second erase is a no-op."""
    erased, kept = seed_two_vehicles(store, None)
    before = raw_items()
    assert _naming(before, erased.tokens) and _naming(before, kept.tokens)

    counts = store.erase_documents([erased.measurement_id], erased.datastream_ids)

    # One manifest file: one record row (sqlite), one chunk of records (cosmos).
    assert counts == {
        "measurements": 1,
        "measurement_files": 1,
        "datastreams": 3,
        "files": 3,
        "scenes": 2,
    }
    after = raw_items()
    assert _naming(after, erased.tokens) == {}
    untouched = {k: v for k, v in before.items() if k not in _naming(before, erased.tokens)}
    assert after == untouched
    assert _naming(after, kept.tokens) == _naming(before, kept.tokens)

    # Erasing again finds nothing left: the same counters, all zero.
    again = store.erase_documents([erased.measurement_id], erased.datastream_ids)
    assert again == dict.fromkeys(counts, 0)
    assert raw_items() == after
    if settings.store_backend is StoreBackend.SQLITE:
        # Scrubbed: no deleted bytes left in the database file or its WAL.
        files = [p for p in settings.sqlite_path.parent.iterdir() if p.is_file()]
        assert files_mentioning(files, erased.tokens) == []
