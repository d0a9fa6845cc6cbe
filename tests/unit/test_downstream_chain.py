"""The change-feed chain on the store alone: routing over the sqlite change log drives the
real prepare/run/fail step functions, as the orchestrators would, one step at a time.

A logger-synchronized measurement touches no storage on any step, so no Azurite is needed:
every skip must still complete its datastream, so the chain ends in a SCENES datastream.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from dataops.downstream import DownstreamStart, downstream_starts, rerun_starts
from dataops.enrichment.steps import fail_enrichment, prepare_enrichment, run_enrichment
from dataops.errors import ConflictError, InvalidInputError
from dataops.ids import instance_id_for
from dataops.models import DatastreamState, DatastreamType
from dataops.scenes.steps import prepare_scene_detection, run_scene_detection
from dataops.storage import BlobZones
from dataops.store.protocol import LineageDirection
from dataops.store.sqlite import SqliteStore
from dataops.synchronization.steps import prepare_synchronization, run_synchronization
from tests.unit.test_synchronization_alignment import _NoStorage, _store_with_extracted

Prepare = Callable[..., dict[str, Any]]
Run = Callable[..., dict[str, Any]]
STEPS: dict[str, tuple[Prepare, Run]] = {
    "synchronize": (prepare_synchronization, run_synchronization),
    "enrich": (prepare_enrichment, run_enrichment),
    "detect_scenes": (prepare_scene_detection, run_scene_detection),
}


def _run_step(store: SqliteStore, start: DownstreamStart, number: int) -> str:
    """What the orchestrator does for one start: prepare, then run; the new datastream id."""
    prepare, run = STEPS[start.orchestrator]
    datastream_id = start.input.get("datastream_id") or f"{start.orchestrator}-{number}"
    prepare(
        store,
        source_datastream_id=start.input["source_datastream_id"],
        datastream_id=datastream_id,
        instance_id=start.instance_id,
    )
    run(cast(BlobZones, _NoStorage()), store, datastream_id=datastream_id)
    return str(datastream_id)


def _follow_change_feed(store: SqliteStore, checkpoint: str | None) -> tuple[list[str], str]:
    """Run whatever the change log asks for until it asks for nothing; (started, checkpoint)."""
    started: list[str] = []
    while True:
        batch = store.read_changes("datastreams", checkpoint, 100)
        checkpoint = batch.checkpoint
        starts = downstream_starts(batch.documents)
        if not batch.documents:
            return started, checkpoint
        for start in starts:
            _run_step(store, start, len(started))
            started.append(start.orchestrator)


def test_a_logger_synchronized_chain_ends_in_a_skipped_scenes_datastream(tmp_path: Path) -> None:
    store = _store_with_extracted(tmp_path, logger_synchronized=True)
    started, _ = _follow_change_feed(store, None)
    assert started == ["synchronize", "enrich", "detect_scenes"]
    (synchronized,) = store.list_datastreams("m-1", DatastreamType.SYNCHRONIZED)
    (enriched,) = store.list_datastreams("m-1", DatastreamType.ENRICHED)
    (scenes,) = store.list_datastreams("m-1", DatastreamType.SCENES)
    assert synchronized.stats == {"skipped": "logger_synchronized"}
    assert enriched.stats["skipped"] == "no_synchronized_frames"
    assert scenes.state is DatastreamState.COMPLETED
    assert scenes.stats == {"skipped": "not_synchronized"}
    # detect_scenes read through the ENRICHED datastream's source, and records both.
    assert scenes.sources == [synchronized.id, enriched.id]
    assert scenes.producer.instance_id == instance_id_for("detect_scenes", enriched.id)
    graph = store.lineage(scenes.id, LineageDirection.UP)
    assert {"ds-1", synchronized.id, enriched.id} <= set(graph.nodes)
    store.close()


def test_a_failed_enrich_ends_the_chain_with_its_reason(tmp_path: Path) -> None:
    store = _store_with_extracted(tmp_path, logger_synchronized=True)
    batch = store.read_changes("datastreams", None, 100)
    (sync_start,) = downstream_starts(batch.documents)
    synchronized_id = _run_step(store, sync_start, 0)
    batch = store.read_changes("datastreams", batch.checkpoint, 100)
    (enrich_start,) = downstream_starts(batch.documents)
    assert enrich_start.input["source_datastream_id"] == synchronized_id
    # What the orchestrator does when enrich_run raised: enrich_fail with the reason.
    prepare_enrichment(
        store,
        source_datastream_id=synchronized_id,
        datastream_id="enr-1",
        instance_id=enrich_start.instance_id,
    )
    fail_enrichment(store, datastream_id="enr-1", reason="weather table unreadable")
    batch = store.read_changes("datastreams", batch.checkpoint, 100)
    assert batch.documents, "the FAILED change is on the feed"
    assert downstream_starts(batch.documents) == []
    failed = store.get_datastream("enr-1")
    assert failed.state is DatastreamState.FAILED
    assert failed.state_reason == "weather table unreadable"
    assert store.list_datastreams("m-1", DatastreamType.SCENES) == []
    # The operator's way on: rerun enrich from the SYNCHRONIZED datastream.
    (rerun,) = rerun_starts(store.get_datastream(synchronized_id), "n-1")
    assert rerun.orchestrator == "enrich"
    _run_step(store, rerun, 0)
    started, _ = _follow_change_feed(store, batch.checkpoint)
    assert started == ["detect_scenes"]
    (scenes,) = store.list_datastreams("m-1", DatastreamType.SCENES)
    assert scenes.sources == [synchronized_id, rerun.input["datastream_id"]]
    store.close()


def test_rerun_starts_are_new_instances_with_named_outputs(tmp_path: Path) -> None:
    store = _store_with_extracted(tmp_path, logger_synchronized=True)
    _follow_change_feed(store, None)
    (enriched,) = store.list_datastreams("m-1", DatastreamType.ENRICHED)
    (first,) = rerun_starts(enriched, "nonce-1")
    (again,) = rerun_starts(enriched, "nonce-1")
    (second,) = rerun_starts(enriched, "nonce-2")
    assert first == again  # the same request (nonce) is the same instance and output
    change_feed_instance = instance_id_for("detect_scenes", enriched.id)
    assert len({first.instance_id, second.instance_id, change_feed_instance}) == 3
    assert first.input["datastream_id"] != second.input["datastream_id"]
    assert first.input["source_datastream_id"] == enriched.id
    (scenes,) = store.list_datastreams("m-1", DatastreamType.SCENES)
    with pytest.raises(InvalidInputError, match="no step consumes SCENES") as err:
        rerun_starts(scenes, "n")
    assert err.value.field == "id"
    failed = enriched.model_copy(update={"state": DatastreamState.FAILED})
    with pytest.raises(ConflictError, match="only a COMPLETED one"):
        rerun_starts(failed, "n")
    store.close()
