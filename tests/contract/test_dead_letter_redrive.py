"""Handing a dead letter back reads each datastream as the store holds it now, on both backends.

The record is written to Azurite's error zone as the consumer writes it; the datastreams live
in the store under test. The Durable client is :class:`MemoryRuns` (an in-memory
``RunControl`` with Azure's start-new rules, as in the rehydrate tests); the devhost end-to-end
test (tests/e2e/test_changefeed_deadletter.py) hands a batch back through the real client.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from dataops.dead_letters.listing import list_dead_letters
from dataops.dead_letters.models import RedriveAnswer
from dataops.dead_letters.records import letter_id, letter_path, record_dead_letter
from dataops.dead_letters.redrive import redrive_dead_letter
from dataops.errors import NotFoundError
from dataops.ids import instance_id_for
from dataops.models import Datastream, DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones
from dataops.store import MetadataStore
from devhost.services.azurite import AzuriteBlob
from tests.contract.conftest import make_datastream, make_measurement
from tests.integration.test_rehydrate_reconcile import MemoryRuns

pytestmark = pytest.mark.azurite
CONSUMER = "on_datastream_changed"
AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def error_zone(azurite: AzuriteBlob) -> Iterator[BlobZones]:
    """An error zone of this test's own."""
    zones = BlobZones(
        ConnectionStringZones(
            azurite.connection_string, container_prefix=f"t{uuid.uuid4().hex[:12]}-"
        )
    )
    zones.ensure_containers([Zone.ERROR])
    try:
        yield zones
    finally:
        zones.close()


class DownRuns(MemoryRuns):
    """The Durable client of a host that is down: every call fails to connect."""

    async def status(self, instance_id: str) -> Any:
        raise ConnectionError(f"cannot connect to the host asking for {instance_id}")


def _datastream(
    store: MetadataStore, datastream_id: str, type_: DatastreamType, state: DatastreamState
) -> Datastream:
    created = store.create_datastream(make_datastream(datastream_id, "m-1", type=type_))
    path = {
        DatastreamState.CREATED: [],
        DatastreamState.PROCESSING: [DatastreamState.PROCESSING],
        DatastreamState.COMPLETED: [DatastreamState.PROCESSING, DatastreamState.COMPLETED],
    }[state]
    for step in path:
        created = store.transition_datastream(created.id, step, expected_etag=str(created.etag))
    return created


def _identity(datastream: Datastream, state: str = "COMPLETED") -> dict[str, Any]:
    return {
        "id": datastream.id,
        "measurement_id": datastream.measurement_id,
        "type": datastream.type.value,
        "state": state,
    }


def _redrive(
    runs: MemoryRuns, zones: BlobZones, store: MetadataStore, record_id: str
) -> RedriveAnswer:
    return asyncio.run(redrive_dead_letter(runs, zones, store, record_id, by="key (write)", now=AT))


def test_a_redrive_routes_each_current_datastream_once_then_moves_the_record(
    store: MetadataStore, error_zone: BlobZones
) -> None:
    """A COMPLETED EXTRACTED datastream starts synchronize; one still PROCESSING is skipped
    with its state, an erased one is reported missing; the record moves under redriven/ with
    who, when and the outcomes, and a second redrive starts nothing and says so."""
    store.create_measurement(make_measurement("m-1"))
    ready = _datastream(store, "ds-ready", DatastreamType.EXTRACTED, DatastreamState.COMPLETED)
    busy = _datastream(store, "ds-busy", DatastreamType.EXTRACTED, DatastreamState.PROCESSING)
    erased = make_datastream("ds-erased", "m-1", type=DatastreamType.EXTRACTED)
    path = record_dead_letter(
        error_zone,
        function=CONSUMER,
        documents=[_identity(ready), _identity(busy, "PROCESSING"), _identity(erased)],
        reason="ClientConnectorError: Cannot connect to host",
        attempts=9,
    )
    record_id = letter_id(path)
    runs = MemoryRuns()

    answer = _redrive(runs, error_zone, store, record_id)

    started = instance_id_for("synchronize", "ds-ready")
    assert answer.state == "redriven"
    assert [(d.datastream_id, d.outcome) for d in answer.redrive.documents] == [
        ("ds-ready", "started"),
        ("ds-busy", "skipped"),
        ("ds-erased", "missing"),
    ]
    assert answer.redrive.documents[0].instance_ids == [started]
    assert answer.redrive.documents[1].detail.startswith("state PROCESSING")
    assert runs.started == [
        ("synchronize", started, {"measurement_id": "m-1", "source_datastream_id": "ds-ready"})
    ]
    # Moved: no longer pending, listed as handed back with who, when and the outcomes.
    assert list_dead_letters(error_zone).items == []
    (moved,) = list_dead_letters(error_zone, redriven=True).items
    assert moved.id == record_id
    assert moved.redriven is not None
    assert (moved.redriven.by, moved.redriven.at) == ("key (write)", AT)
    assert [d.outcome for d in moved.redriven.documents] == ["started", "skipped", "missing"]
    with pytest.raises(NotFoundError):
        error_zone.get_info(Zone.ERROR, path)

    again = _redrive(runs, error_zone, store, record_id)

    assert again.state == "already_redriven"
    assert "already handed back" in again.message and "nothing done" in again.message
    assert again.redrive == answer.redrive
    assert len(runs.started) == 1


def test_a_step_that_exists_already_is_not_started_twice(
    store: MetadataStore, error_zone: BlobZones
) -> None:
    """The consumer's own guard: an instance of the step (here Completed) means it ran."""
    store.create_measurement(make_measurement("m-1"))
    ready = _datastream(store, "ds-ready", DatastreamType.SYNCHRONIZED, DatastreamState.COMPLETED)
    record_id = letter_id(
        record_dead_letter(
            error_zone, function=CONSUMER, documents=[_identity(ready)], reason="r", attempts=9
        )
    )
    runs = MemoryRuns()
    enrich = runs.add_running(instance_id_for("enrich", "ds-ready"), AT, orchestration="enrich")

    answer = _redrive(runs, error_zone, store, record_id)

    assert answer.state == "redriven"
    (outcome,) = answer.redrive.documents
    assert (outcome.outcome, outcome.instance_ids) == ("skipped", [enrich])
    assert "exists already" in outcome.detail and "Running" in outcome.detail
    assert runs.started == []


def test_a_redrive_whose_step_cannot_start_keeps_the_record_and_says_so(
    store: MetadataStore, error_zone: BlobZones
) -> None:
    """Nothing is lost when handing back fails again: the record stays pending, with the
    failed attempt on it, and a later redrive (the host back) starts the step."""
    store.create_measurement(make_measurement("m-1"))
    ready = _datastream(store, "ds-ready", DatastreamType.EXTRACTED, DatastreamState.COMPLETED)
    path = record_dead_letter(
        error_zone, function=CONSUMER, documents=[_identity(ready)], reason="r", attempts=9
    )
    record_id = letter_id(path)

    failed = _redrive(DownRuns(), error_zone, store, record_id)

    assert failed.state == "failed"
    assert "stays pending" in failed.message
    (outcome,) = failed.redrive.documents
    assert outcome.outcome == "failed"
    assert "ConnectionError: cannot connect to the host" in outcome.detail
    (kept,) = list_dead_letters(error_zone).items
    assert kept.id == record_id
    assert [r.documents[0].outcome for r in kept.failed_redrives] == ["failed"]
    assert error_zone.get_info(Zone.ERROR, letter_path(record_id)).path == path

    runs = MemoryRuns()
    handed = _redrive(runs, error_zone, store, record_id)

    assert handed.state == "redriven"
    assert [s[1] for s in runs.started] == [instance_id_for("synchronize", "ds-ready")]


def test_an_unknown_record_is_not_found(store: MetadataStore, error_zone: BlobZones) -> None:
    """A well-formed id that names no record, pending or handed back, is a NotFoundError."""
    with pytest.raises(NotFoundError, match="no dead letter"):
        _redrive(MemoryRuns(), error_zone, store, f"{CONSUMER}.20261207.090000-0123456789abcdef")
