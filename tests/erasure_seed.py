"""Two vehicles' data written straight into a store and its zones, for the erasure tests.

Each vehicle gets what a run of the pipeline leaves, in small: a measurement whose upload
sits in the archive, a COMPLETED RAW datastream with a file, an EXTRACTED one made from it, a
SCENES one made from that with two scenes and a Delta scenes table in the curated zone. Every
id of one vehicle contains its tag, so a scan for the tag finds every trace of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from dataops.frames.delta import upload_delta_table
from dataops.frames.tables import SCENES_TABLE_STAT
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
    Measurement,
    Producer,
    Scene,
)
from dataops.paths import Zone, date_prefix, join_path
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = ["ERASED_TAG", "KEPT_TAG", "SeededVehicle", "seed_vehicle", "seed_two_vehicles"]

ERASED_TAG, KEPT_TAG = "ERASEME", "KEEPME"
START = datetime(2026, 5, 4, 8, tzinfo=UTC)


@dataclass
class SeededVehicle:
    """What :func:`seed_vehicle` wrote for one vehicle."""

    vehicle_id: str
    measurement_id: str
    datastream_ids: list[str] = field(default_factory=list)
    blobs: list[tuple[Zone, str]] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        """Strings that name this vehicle's data: a scan must not find them after erasure."""
        return [self.vehicle_id, self.measurement_id, *self.datastream_ids]


def _put(zones: BlobZones, seeded: SeededVehicle, zone: Zone, path: str, data: bytes) -> None:
    zones.write_bytes(zone, path, data)
    seeded.blobs.append((zone, path))


def _completed(
    store: MetadataStore,
    datastream: Datastream,
    files: list[FileRecord],
    stats: dict[str, str] | None = None,
) -> None:
    created = store.create_datastream(datastream)
    assert created.etag is not None
    processing = store.transition_datastream(
        datastream.id, DatastreamState.PROCESSING, expected_etag=created.etag
    )
    store.attach_files(datastream.id, files)
    processing = store.get_datastream(datastream.id)
    assert processing.etag is not None
    store.transition_datastream(
        datastream.id, DatastreamState.COMPLETED, expected_etag=processing.etag, stats=stats
    )


def seed_vehicle(store: MetadataStore, zones: BlobZones | None, tag: str) -> SeededVehicle:
    """One vehicle ``VIN-<tag>`` with measurement ``m-<tag>``; blobs only when ``zones`` given."""
    vehicle, measurement_id = f"VIN-{tag}", f"m-{tag.lower()}"
    seeded = SeededVehicle(vehicle, measurement_id)
    upload = f"fleet/{measurement_id}"
    payload = f"recording of {vehicle} / {measurement_id}".encode()
    store.create_measurement(
        Measurement(
            id=measurement_id,
            vehicle_id=vehicle,
            recording_start=START,
            recording_end=START + timedelta(minutes=5),
            upload_prefix=upload,
            file_count=1,
            total_bytes=len(payload),
            content_sha256=hashlib.sha256(upload.encode()).hexdigest(),
        ),
        [
            FileRecord(
                path="drive.mcap",
                format="mcap",
                size=len(payload),
                sha256=hashlib.sha256(payload).hexdigest(),
            )
        ],
    )
    folder = join_path(date_prefix(START), vehicle, measurement_id)
    previous: list[str] = []
    for kind, zone, step in (
        (DatastreamType.RAW, Zone.RAW, "ingest"),
        (DatastreamType.EXTRACTED, Zone.EXTRACTED, "extract"),
        (DatastreamType.SCENES, Zone.CURATED, "detect_scenes"),
    ):
        datastream_id = f"{measurement_id}-{kind.value.lower()}"
        path = join_path(folder, datastream_id)
        data_path = join_path(path, "drive.mcap" if kind is DatastreamType.RAW else "part.bin")
        stats: dict[str, str] | None = None
        if zones is not None:
            _put(zones, seeded, zone, data_path, payload)
            if kind is DatastreamType.SCENES:
                stats = {SCENES_TABLE_STAT: join_path(path, "scenes")}
                upload_delta_table(zones, Zone.CURATED, stats[SCENES_TABLE_STAT], _scenes(seeded))
        _completed(
            store,
            Datastream(
                id=datastream_id,
                measurement_id=measurement_id,
                type=kind,
                zone=zone,
                path=path,
                producer=Producer(step=step, code_version="test"),
                sources=previous,
            ),
            [FileRecord(path=data_path, format="bin", size=len(payload))],
            stats,
        )
        seeded.datastream_ids.append(datastream_id)
        previous = [datastream_id]
    if zones is not None:
        _put(zones, seeded, Zone.ARCHIVE, join_path(upload, "drive.mcap"), payload)
    store.upsert_scenes(
        [
            Scene(
                id=f"{measurement_id}-scene-{n}",
                measurement_id=measurement_id,
                datastream_id=seeded.datastream_ids[-1],
                vehicle_id=vehicle,
                type="pedestrian",
                start=START + timedelta(seconds=10 * n),
                end=START + timedelta(seconds=10 * n + 5),
            )
            for n in range(2)
        ]
    )
    return seeded


def _scenes(seeded: SeededVehicle) -> pa.Table:
    starts = [int((START + timedelta(seconds=10 * n)).timestamp() * 1e9) for n in range(2)]
    return pa.table(
        {
            "measurement_id": [seeded.measurement_id] * 2,
            "vehicle_id": [seeded.vehicle_id] * 2,
            "type": ["pedestrian"] * 2,
            "start_ns": starts,
            "end_ns": [s + 5_000_000_000 for s in starts],
        }
    )


def seed_two_vehicles(
    store: MetadataStore, zones: BlobZones | None
) -> tuple[SeededVehicle, SeededVehicle]:
    """The vehicle to erase and the one to keep."""
    return seed_vehicle(store, zones, ERASED_TAG), seed_vehicle(store, zones, KEPT_TAG)
