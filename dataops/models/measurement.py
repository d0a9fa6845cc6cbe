"""Measurement: one drive upload, identified by id and by its content."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from dataops.models.common import Identifier, Sha256, Tag, UtcDatetime, VehicleId, utc_now
from dataops.models.manifest import FileFormat, Manifest

__all__ = ["FileRecord", "Measurement", "MeasurementState", "manifest_file_records"]


class MeasurementState(StrEnum):
    """Lifecycle of a measurement as a whole (datastreams carry the per-step state)."""

    REGISTERED = "REGISTERED"
    INGESTED = "INGESTED"
    FAILED = "FAILED"


class FileRecord(BaseModel):
    """A file of a measurement or a datastream, with what later steps learn about it."""

    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, Field(max_length=1024)]
    format: FileFormat | str
    size: Annotated[int, Field(ge=0)]
    sha256: Sha256 | None = None
    meta: dict[str, Any] = Field(
        default_factory=dict, description="Topics, types, counts, time range, ... (step-specific)."
    )


class Measurement(BaseModel):
    """One recording session of one vehicle, as registered from its manifest."""

    model_config = ConfigDict(extra="forbid")

    id: Identifier
    vehicle_id: VehicleId
    recording_start: UtcDatetime
    recording_end: UtcDatetime
    upload_prefix: Annotated[str, Field(max_length=1024)]
    file_count: Annotated[int, Field(ge=0)] = Field(
        default=0, description="How many files the manifest listed (the store keeps their records)."
    )
    total_bytes: Annotated[int, Field(ge=0)] = Field(
        default=0, description="The listed files' sizes added up."
    )
    tags: list[Tag] = Field(default_factory=list)
    project: str | None = None
    driver: str | None = None
    logger_synchronized: bool = False
    state: MeasurementState = MeasurementState.REGISTERED
    content_sha256: Sha256 = Field(description="Hash of vehicle, times and file hashes.")
    created_at: UtcDatetime = Field(default_factory=utc_now)
    etag: str | None = Field(default=None, description="Set by the store; opaque.")

    @classmethod
    def from_manifest(
        cls, manifest: Manifest, measurement_id: str, upload_prefix: str
    ) -> Measurement:
        """Build the measurement a manifest describes (pure: no I/O).

        Its files are not part of it: :func:`manifest_file_records` gives them, for the store.
        """
        return cls(
            id=measurement_id,
            vehicle_id=manifest.vehicle_id,
            recording_start=manifest.recording_start,
            recording_end=manifest.recording_end,
            upload_prefix=upload_prefix,
            file_count=len(manifest.files),
            total_bytes=sum(f.size for f in manifest.files),
            tags=list(manifest.tags),
            project=manifest.project,
            driver=manifest.driver,
            logger_synchronized=manifest.logger_synchronized,
            content_sha256=content_hash(manifest),
        )

    def same_content(self, other: Measurement) -> bool:
        """True when both describe the same bytes (ids aside): an idempotent re-create."""
        return self.content_sha256 == other.content_sha256


def manifest_file_records(manifest: Manifest) -> list[FileRecord]:
    """The file records of the measurement ``manifest`` describes, in manifest order."""
    return [
        FileRecord(path=f.path, format=f.format, size=f.size, sha256=f.sha256)
        for f in manifest.files
    ]


def content_hash(manifest: Manifest) -> str:
    """Stable hash of what makes a measurement: vehicle, times and the listed files."""
    body = {
        "vehicle_id": manifest.vehicle_id,
        "start": _iso(manifest.recording_start),
        "end": _iso(manifest.recording_end),
        "files": sorted((f.path, f.size, f.sha256) for f in manifest.files),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
