"""Seeding a metadata store for step tests: a measurement, and datastreams already COMPLETED.

The step tests start from the same drive record (vehicle WAVSAMPLE00000000, measurement m-1,
recorded 2026-05-04 08:00 UTC) and need their source datastreams in a final state; both are
made here, the same way for every test.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from dataops.models import Datastream, DatastreamState, DatastreamType, FileRecord, Producer
from dataops.models.measurement import Measurement
from dataops.paths import Zone
from dataops.store import MetadataStore

__all__ = ["MEASUREMENT_ID", "PREFIX", "VEHICLE", "add_measurement", "completed", "derived"]

VEHICLE = "WAVSAMPLE00000000"
MEASUREMENT_ID = "m-1"
START = datetime(2026, 5, 4, 8, tzinfo=UTC)
# Where m-1's datastreams live in every zone: <date>/<vehicle>/<measurement>.
PREFIX = f"2026/05/04/{VEHICLE}/{MEASUREMENT_ID}"


def add_measurement(
    store: MetadataStore, *, seconds: float = 40, logger_synchronized: bool = False
) -> Measurement:
    """Measurement m-1 of the sample vehicle, ``seconds`` long, with no files."""
    return store.create_measurement(
        Measurement(
            id=MEASUREMENT_ID,
            vehicle_id=VEHICLE,
            recording_start=START,
            recording_end=START + timedelta(seconds=seconds),
            upload_prefix=f"fleet/{MEASUREMENT_ID}",
            logger_synchronized=logger_synchronized,
            content_sha256="0" * 64,
        )
    )


def derived(datastream_id: str, kind: DatastreamType, step: str) -> Datastream:
    """A datastream of m-1 made by ``step``, under PREFIX in its zone (curated if derived)."""
    zone = Zone.EXTRACTED if kind is DatastreamType.EXTRACTED else Zone.CURATED
    return Datastream(
        id=datastream_id,
        measurement_id=MEASUREMENT_ID,
        type=kind,
        zone=zone,
        path=f"{PREFIX}/{datastream_id}",
        producer=Producer(step=step, code_version="test"),
    )


def completed(
    store: MetadataStore, datastream: Datastream, files: Sequence[FileRecord] = ()
) -> Datastream:
    """Create ``datastream``, attach ``files`` while PROCESSING, and make it COMPLETED."""
    created = store.create_datastream(datastream)
    assert created.etag is not None
    processing = store.transition_datastream(
        datastream.id, DatastreamState.PROCESSING, expected_etag=created.etag
    )
    if files:
        store.attach_files(datastream.id, files)
        processing = store.get_datastream(datastream.id)
    assert processing.etag is not None
    return store.transition_datastream(
        datastream.id, DatastreamState.COMPLETED, expected_etag=processing.etag
    )
