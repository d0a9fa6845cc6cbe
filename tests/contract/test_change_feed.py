"""Contract: change feed (latest version only, resumable checkpoints, nothing missed)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from dataops.errors import InvalidInputError
from dataops.models import Datastream, DatastreamState, Measurement, MeasurementState
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
            time.sleep(1.05)
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
