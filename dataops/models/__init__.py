"""Pydantic v2 models: the one source of truth for every schema."""

from __future__ import annotations

from dataops.models.datastream import (
    TRANSITIONS,
    Datastream,
    DatastreamState,
    DatastreamType,
    Producer,
    check_transition,
)
from dataops.models.manifest import (
    MANIFEST_NAME,
    RECORDING_FORMATS,
    SCHEMA_VERSION,
    FileFormat,
    Manifest,
    ManifestFile,
)
from dataops.models.measurement import (
    FileRecord,
    Measurement,
    MeasurementState,
    content_hash,
    manifest_file_records,
)
from dataops.models.scene import Scene

__all__ = [
    "MANIFEST_NAME",
    "RECORDING_FORMATS",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "Datastream",
    "DatastreamState",
    "DatastreamType",
    "FileFormat",
    "FileRecord",
    "Manifest",
    "ManifestFile",
    "Measurement",
    "MeasurementState",
    "Producer",
    "Scene",
    "check_transition",
    "content_hash",
    "manifest_file_records",
]
