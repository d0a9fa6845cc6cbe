"""Register an upload: Measurement (idempotent by content) and its RAW datastream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from dataops import __version__
from dataops.derived import open_datastream
from dataops.errors import ConflictError, NotFoundError
from dataops.ingest.check import read_manifest
from dataops.manifest import measurement_id_of
from dataops.models import (
    DatastreamState,
    DatastreamType,
    FileRecord,
    Measurement,
    MeasurementState,
    Producer,
    manifest_file_records,
)
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones
from dataops.store import MetadataStore, all_measurement_files
from dataops.store.transitions import advance_datastream

__all__ = ["Registration", "complete_raw", "register_upload"]


@dataclass(frozen=True)
class Registration:
    measurement_id: str
    datastream_id: str
    raw_prefix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def register_upload(
    zones: BlobZones,
    store: MetadataStore,
    *,
    upload_prefix: str,
    manifest_etag: str,
    datastream_id: str,
    instance_id: str,
    max_manifest_bytes: int,
    sources: list[str] | None = None,
    refuse: Callable[[str, str], None] | None = None,
) -> Registration:
    """Create the measurement (same content: reuse; else ConflictError), then RAW -> COPYING.

    ``datastream_id`` comes from the orchestrator (replay-safe ``new_uuid``), so a retried
    activity finds the datastream it already made instead of making a second one.
    """
    manifest, _ = read_manifest(
        zones, upload_prefix, max_bytes=max_manifest_bytes, etag=manifest_etag
    )
    measurement_id = measurement_id_of(manifest)
    candidate = Measurement.from_manifest(manifest, measurement_id, upload_prefix)
    if refuse is not None:
        # An erased vehicle or measurement (the tombstone check): nothing is registered.
        refuse(candidate.vehicle_id, measurement_id)
    try:
        measurement = store.create_measurement(candidate, manifest_file_records(manifest))
    except ConflictError as err:
        raise ConflictError(
            f"measurement {measurement_id} already exists with other content: {err} "
            f"(this upload {upload_prefix}: content {candidate.content_sha256})"
        ) from err
    datastream = open_datastream(
        store,
        measurement,
        datastream_id=datastream_id,
        datastream_type=DatastreamType.RAW,
        zone=Zone.RAW,
        producer=Producer(step="ingest", code_version=__version__, instance_id=instance_id),
        sources=sources or [],
        stats={"upload_prefix": upload_prefix},
        working=DatastreamState.COPYING,
    )
    return Registration(measurement.id, datastream.id, datastream.path)


def complete_raw(
    store: MetadataStore, *, measurement_id: str, datastream_id: str
) -> dict[str, int]:
    """Attach the raw file records, RAW datastream COMPLETED, measurement INGESTED (idempotent)."""
    measurement = store.get_measurement(measurement_id)
    datastream = store.get_datastream(datastream_id)
    if datastream.measurement_id != measurement_id:
        raise NotFoundError(f"datastream {datastream_id} is not part of {measurement_id}")
    records = [
        FileRecord(
            path=join_path(datastream.path, item.path),
            format=item.format,
            size=item.size,
            sha256=item.sha256,
        )
        for item in all_measurement_files(store, measurement_id)
    ]
    store.attach_files(datastream_id, records)
    total = sum(item.size for item in records)
    advance_datastream(
        store,
        datastream_id,
        DatastreamState.COMPLETED,
        when={DatastreamState.COPYING},
        stats={"files": len(records), "bytes": total},
    )
    if measurement.state is not MeasurementState.INGESTED:
        store.set_measurement_state(measurement_id, MeasurementState.INGESTED)
    return {"files": len(records), "bytes": total}
