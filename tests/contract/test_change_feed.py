"""Contract: change feed (latest version only, resumable checkpoints, nothing missed)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from azure.cosmos import CosmosClient

from dataops.downstream import decode_datastream, plan_downstream
from dataops.errors import InvalidInputError
from dataops.ids import instance_id_for
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    Measurement,
    MeasurementState,
)
from dataops.settings import Settings, StoreBackend
from dataops.store import ChangeBatch, MetadataStore
from tests.contract.conftest import make_datastream, make_measurement, make_scene


def _drain(
    store: MetadataStore, container: str, checkpoint: str | None, max_items: int = 100
) -> tuple[list[dict[str, object]], str | None]:
    """Read until a batch comes back empty; returns every document and the last checkpoint."""
    documents: list[dict[str, object]] = []
    for _ in range(200):
        batch: ChangeBatch = store.read_changes(container, checkpoint, max_items=max_items)  # type: ignore[arg-type]
        assert len(batch.documents) <= max_items
        checkpoint = batch.checkpoint
        if not batch.documents:
            return documents, checkpoint
        documents.extend(batch.documents)
    raise AssertionError("change feed never ran dry")


def test_latest_version_only(store: MetadataStore) -> None:
    store.create_measurement(make_measurement("m-1"))
    ds = store.create_datastream(make_datastream("ds-1", "m-1"))
    assert ds.etag is not None
    mid = store.transition_datastream("ds-1", DatastreamState.COPYING, expected_etag=ds.etag)
    assert mid.etag is not None
    store.transition_datastream("ds-1", DatastreamState.COMPLETED, expected_etag=mid.etag)
    documents, _ = _drain(store, "datastreams", None)
    assert len(documents) == 1
    delivered = Datastream.model_validate(documents[0])
    assert delivered == store.get_datastream("ds-1")
    assert delivered.state is DatastreamState.COMPLETED
    (measurement_doc,) = _drain(store, "measurements", None)[0]
    assert Measurement.model_validate(measurement_doc) == store.get_measurement("m-1")


def test_checkpoint_resumes_after_the_last_read(store: MetadataStore) -> None:
    first = store.create_measurement(make_measurement("m-1"))
    documents, checkpoint = _drain(store, "measurements", None)
    assert [d["id"] for d in documents] == ["m-1"]
    assert store.read_changes("measurements", checkpoint).documents == []
    store.create_measurement(make_measurement("m-2"))
    store.set_measurement_state("m-1", MeasurementState.INGESTED, expected_etag=first.etag)
    documents, checkpoint = _drain(store, "measurements", checkpoint)
    assert sorted(str(d["id"]) for d in documents) == ["m-1", "m-2"]
    by_id = {d["id"]: d for d in documents}
    assert by_id["m-1"]["state"] == "INGESTED"
    # Re-reading from the same checkpoint again gives the same answer (at least once).
    assert store.read_changes("measurements", checkpoint).documents == []


def test_small_batches_across_seconds_miss_nothing(store: MetadataStore) -> None:
    store.create_measurement(make_measurement("m-1"))
    checkpoint: str | None = None
    delivered: dict[str, str] = {}
    for round_ in range(3):
        for i in range(4):
            store.create_datastream(make_datastream(f"ds-{round_}-{i}", "m-1"))
        # Rewrite a datastream that was already delivered: it must come again, newest only.
        if round_:
            old = store.get_datastream(f"ds-{round_ - 1}-0")
            assert old.etag is not None
            store.transition_datastream(old.id, DatastreamState.PROCESSING, expected_etag=old.etag)
        documents, checkpoint = _drain(store, "datastreams", checkpoint, max_items=3)
        for doc in documents:
            delivered[str(doc["id"])] = str(doc["etag"])
        if round_ == 0:
            # Cross a second boundary: the cosmos backend's feed has 1-second resolution.
            # Sleeping to just past the next whole second crosses one, in half a second on average.
            time.sleep(1.0 - time.time() % 1.0 + 0.05)
    expected = {d.id: d.etag for d in store.list_datastreams("m-1")}
    assert delivered == expected
    assert store.get_datastream("ds-1-0").state is DatastreamState.PROCESSING


def test_each_document_once_per_pass(store: MetadataStore) -> None:
    store.upsert_scenes([make_scene(f"s-{i}", "m-1") for i in range(7)])
    sizes: list[int] = []
    checkpoint: str | None = None
    seen: list[str] = []
    for _ in range(10):
        batch = store.read_changes("scenes", checkpoint, max_items=3)
        checkpoint = batch.checkpoint
        if not batch.documents:
            break
        sizes.append(len(batch.documents))
        seen.extend(str(d["id"]) for d in batch.documents)
    assert sizes == [3, 3, 1]
    assert sorted(seen) == [f"s-{i}" for i in range(7)]


def _forge(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_bad_checkpoints_and_arguments_are_invalid_input(store: MetadataStore) -> None:
    store.create_measurement(make_measurement("m-1"))
    good = store.read_changes("measurements", None).checkpoint
    for checkpoint in (
        "garbage",
        "",
        _forge({"v": 1, "b": "sqlite", "c": "measurements", "s": {"seq": "1; DROP"}}),
        _forge({"v": 1, "b": "cosmos", "c": "measurements", "s": {"ts": -1, "seen": []}}),
        _forge({"v": 1, "b": "other", "c": "measurements", "s": {}}),
    ):
        with pytest.raises(InvalidInputError):
            store.read_changes("measurements", checkpoint)
    with pytest.raises(InvalidInputError):
        store.read_changes("scenes", good)  # a checkpoint of another container
    with pytest.raises(InvalidInputError):
        store.read_changes("files", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.read_changes("measurements", None, max_items=0)


def _delivered_datastreams(
    store: MetadataStore, settings: Settings, request: pytest.FixtureRequest
) -> list[dict[str, Any]]:
    """The datastream documents as the backend hands them to the change-feed consumer.

    sqlite: its change log (devhost's feed reads it). cosmos: the container's documents as
    Cosmos stores and its change feed delivers them, read past the store.
    """
    if settings.store_backend is StoreBackend.SQLITE:
        return [dict(d) for d in store.read_changes("datastreams", None, 100).documents]
    client: CosmosClient = request.getfixturevalue("cosmos_client")
    container = client.get_database_client(settings.cosmos_database).get_container_client(
        "datastreams"
    )
    return list(container.query_items("SELECT * FROM c", enable_cross_partition_query=True))


def test_the_consumer_decodes_the_documents_each_backend_delivers(
    store: MetadataStore, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """The consumer starts the next step from each backend's own documents, not model dumps."""
    store.create_measurement(make_measurement("m-1"))
    created = store.create_datastream(
        make_datastream("ds-ext", "m-1", type=DatastreamType.EXTRACTED)
    )
    assert created.etag is not None
    mid = store.transition_datastream("ds-ext", DatastreamState.COPYING, expected_etag=created.etag)
    assert mid.etag is not None
    store.transition_datastream("ds-ext", DatastreamState.COMPLETED, expected_etag=mid.etag)
    delivered = _delivered_datastreams(store, settings, request)
    latest = delivered[-1]
    if settings.store_backend is StoreBackend.COSMOS:
        # The store's bookkeeping is there: the documents are not model dumps.
        assert {"idx", "_etag", "_rid", "_ts"} <= set(latest)
    assert decode_datastream(latest) == store.get_datastream("ds-ext")
    plan = plan_downstream(delivered)
    assert plan.errors == []
    assert [(s.orchestrator, s.instance_id, s.input) for s in plan.starts] == [
        (
            "synchronize",
            instance_id_for("synchronize", "ds-ext"),
            {"measurement_id": "m-1", "source_datastream_id": "ds-ext"},
        )
    ]
