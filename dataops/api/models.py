"""Request and response bodies of the app's HTTP API (the OpenAPI schemas are generated from these).

Stored documents are returned as the domain models themselves (``Measurement``, ``Datastream``,
``FileRecord``, ``Scene``), so the API cannot drift from what the store holds.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
    Measurement,
    Scene,
)
from dataops.paths import Zone

__all__ = [
    "DatastreamList",
    "DatastreamPatch",
    "DatastreamSummary",
    "ExportLinksView",
    "FilePage",
    "MeasurementFilePage",
    "Frame",
    "FramePage",
    "Health",
    "JobDoneSignalled",
    "LabelExportAccepted",
    "LabelExportRevoked",
    "LabelExportView",
    "LineageEdgeOut",
    "LineageResponse",
    "Location",
    "MeasurementDetail",
    "MeasurementPage",
    "RunAccepted",
    "RunStatus",
    "SasGrant",
    "SasScope",
    "ScenePage",
    "StrandedList",
    "StrandedRow",
]

_CONTINUATION = Field(
    default=None,
    description="Opaque token of the next page (send it as `continuation`); null on the last.",
)


class MeasurementPage(BaseModel):
    """One page of a measurement search, newest recording first."""

    items: list[Measurement]
    continuation: str | None = _CONTINUATION


class DatastreamSummary(BaseModel):
    """The short form of a datastream shown with its measurement."""

    id: str
    type: DatastreamType
    state: DatastreamState
    zone: Zone
    path: str
    file_count: int
    updated_at: datetime

    @classmethod
    def of(cls, datastream: Datastream) -> DatastreamSummary:
        """Summary of ``datastream``: its fields of the same names."""
        return cls.model_validate(datastream, from_attributes=True)


class MeasurementDetail(BaseModel):
    """A measurement with a summary of its datastreams."""

    measurement: Measurement
    datastreams: list[DatastreamSummary]
    datastream_states: dict[str, int] = Field(
        description="How many of its datastreams are in each state."
    )


class DatastreamList(BaseModel):
    """Every datastream of one measurement, oldest first."""

    measurement_id: str
    items: list[Datastream]


class FilePage(BaseModel):
    """One page of a datastream's file records, in path order."""

    datastream_id: str
    items: list[FileRecord]
    continuation: str | None = _CONTINUATION


class MeasurementFilePage(BaseModel):
    """One page of a measurement's manifest file records, in path order."""

    measurement_id: str
    items: list[FileRecord]
    continuation: str | None = _CONTINUATION


class LineageEdgeOut(BaseModel):
    """``source`` was used to make ``target``."""

    source: str
    target: str


class LineageResponse(BaseModel):
    """Datastreams reachable from ``root`` and the edges between them."""

    root: str
    direction: str
    depth: int
    nodes: list[Datastream]
    edges: list[LineageEdgeOut]
    truncated: bool = Field(description="True when the walk stopped at `depth` with more to see.")


class ScenePage(BaseModel):
    """One page of scenes, by start time."""

    items: list[Scene]
    continuation: str | None = _CONTINUATION


class Frame(BaseModel):
    """One reference frame of the frame index (see docs/scenes.md)."""

    vehicle_id: str
    measurement_id: str
    datastream_id: str = Field(description="The SCENES datastream whose index holds the frame.")
    frame: int = Field(description="Row of the frame in the synchronized table.")
    time_ns: int = Field(description="Reference frame time, UNIX nanoseconds.")
    time: datetime
    paths: dict[str, str] = Field(
        description="Sensor name -> matched file in the extracted zone (cameras: the frame)."
    )
    object_classes: list[str]
    scene_ids: list[str]
    scene_types: list[str]
    speed_mps: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    h3_cell: str | None = Field(default=None, description="From enrichment; null without it.")
    is_night: bool | None = None
    is_raining: bool | None = None
    label_categories: list[str] = Field(
        description="Categories of the frame's labels (every LABELED datastream of its "
        "measurement), sorted; empty when it has none."
    )


class FramePage(BaseModel):
    """One page of frames by time."""

    items: list[Frame]
    continuation: str | None = _CONTINUATION


class DatastreamPatch(BaseModel):
    """A state change requested by a pipeline component (needs the write role and If-Match)."""

    model_config = ConfigDict(extra="forbid")

    state: DatastreamState = Field(description="Target state; the state machine must allow it.")
    reason: Annotated[str, Field(max_length=4096)] | None = Field(
        default=None, description="Why (required in practice for FAILED)."
    )
    stats: dict[str, Any] | None = Field(
        default=None, description="Merged into the datastream's stats."
    )


class SasScope(StrEnum):
    BLOB = "blob"
    DIRECTORY = "directory"
    CONTAINER = "container"


class SasGrant(BaseModel):
    """A short-lived, read-only shared access signature."""

    scope: SasScope = Field(
        description="`blob`: one blob; `directory`: read and list the prefix and below "
        "(accounts with hierarchical namespace, as deployed in Azure); `container`: read and "
        "list the zone's container (a prefix on an account without hierarchical namespace, "
        "e.g. Azurite, where no SAS can cover a prefix)."
    )
    permissions: str = Field(description="SAS permissions: `r` (read), `rl` (read, list).")
    expires_at: datetime
    token: str = Field(description="The SAS query string, without the leading '?'.")
    url: str = Field(
        description="The blob's URL, or for a prefix its listing URL, with the SAS appended."
    )


class Location(BaseModel):
    """Where a datastream (or one blob of it) is stored."""

    datastream_id: str
    zone: Zone
    container: str
    path: str = Field(
        description="Blob path, or the prefix (ending in '/') for a whole datastream."
    )
    is_prefix: bool
    url: str
    sas: SasGrant | None = None


class Health(BaseModel):
    """The liveness answer: the app is loaded (nothing else is touched)."""

    status: str = Field(description="Always `ok`.")
    version: str = Field(description="The code version the app runs.")


class JobDoneSignalled(BaseModel):
    """A Batch job's end was passed on to its run (202): the run polls its jobs now."""

    instance_id: str = Field(description="The run that was told.")
    job_id: str = Field(description="The job that ended.")


class RunAccepted(BaseModel):
    """A started orchestration (202): where to follow it, and what it will make."""

    instance_id: str = Field(description="The orchestration instance.")
    status_url: str = Field(
        description="`GET` it with a read key for the run's status (`/api/runs/{instance_id}`); "
        "also the `Location` header."
    )
    datastream_id: str | None = Field(
        default=None,
        description="The datastream the run will make, when it is known at the start (extract, "
        "a step's rerun); also the `X-AVOps-Datastream-Id` header.",
    )


class RunStatus(BaseModel):
    """An orchestration run as API callers see it: no history, no input, no management URLs."""

    instance_id: str
    name: str | None = Field(default=None, description="The orchestration (ingest, extract, ...).")
    runtime_status: str = Field(
        description="Durable's status: Pending, Running, Completed, Failed, Terminated, ..."
    )
    custom_status: Any = Field(default=None, description="Progress the run reported.")
    output: Any = Field(
        default=None, description="The run's result once Completed; the reason once Failed."
    )
    created_time: datetime | None = None
    last_updated_time: datetime | None = None


class StrandedRow(BaseModel):
    """One landing prefix no active run works on, older than the reconciler's threshold."""

    upload_prefix: str = Field(description="The upload (or, without a manifest, the folder).")
    reason: str = Field(
        description="no_manifest, empty_manifest, no_run, run_completed, run_failed, run_ended."
    )
    detail: str
    files: int
    bytes: int
    last_modified: datetime = Field(description="The newest blob's write time.")
    manifest_etag: str | None = None
    instance_id: str | None = Field(default=None, description="The upload's last ingest run.")
    runtime_status: str | None = None


class StrandedList(BaseModel):
    """Every stranded landing prefix, by prefix."""

    items: list[StrandedRow]
    threshold_minutes: int = Field(description="Age a prefix must have to count as stranded.")
    checked_at: datetime


class LabelExportAccepted(RunAccepted):
    """A started labeling export."""

    export_id: str
    export_url: str = Field(
        description="The export's own view (`/api/label-exports/{export_id}`): progress, and "
        "the partner links for the write role."
    )
    expires_at: datetime = Field(description="When the partner links stop working.")


class ExportLinksView(BaseModel):
    """The partner's two links (bearer secrets: write role only, never cached)."""

    package: str = Field(description="The package container with a read + list SAS.")
    labels: str = Field(description="The labels container with a create + write SAS.")
    expires_at: datetime
    signed_with: str = Field(description="`stored_access_policy` or `user_delegation_key`.")
    package_permissions: str
    labels_permissions: str


class LabelExportView(BaseModel):
    """A labeling export: its record, the run's progress, and links for the write role."""

    export_id: str
    partner_id: str
    instance_id: str
    status: str = Field(description="`running`, `completed`, `failed` or `unknown`.")
    stage: str | None = None
    runtime_status: str | None = None
    items: int | None = None
    copied: int | None = None
    frames: int | None = None
    datastream_ids: list[str]
    reason: Any = Field(default=None, description="Why it failed.")
    package_complete: bool
    created_at: datetime
    expires_at: datetime
    expired: bool
    revoked_at: datetime | None = None
    request: dict[str, Any] = Field(description="The request the export was started with.")
    links: ExportLinksView | None = None


class LabelExportRevoked(BaseModel):
    """A revoked export: its links stopped working."""

    export_id: str
    revoked_at: datetime | None


class ErasurePreview(BaseModel):
    """What an erasure would delete (``dry_run``): ids, blob paths by zone, runs, batch jobs."""

    measurements: list[str]
    datastreams: list[str]
    blobs: dict[str, list[str]] = Field(
        description="Blob paths by zone; `exports`: ids of label exports that would be deleted."
    )
    runs: list[str] = Field(description="Orchestration instances whose history would be purged.")
    batch_jobs: list[str] = Field(
        description="Ids of the batch jobs that would be deleted: in Azure Batch, the target's"
        " extraction jobs the service still holds; locally, the pool's jobs naming the target."
    )


class ErasureAnswer(BaseModel):
    """An erasure: started (202), already done (200, nothing deleted) or previewed (200)."""

    erasure_id: str = Field(description="HMAC-derived id of the target; names the record.")
    state: str = Field(description="`running`, `completed`, `failed` or `preview`.")
    instance_id: str | None = Field(default=None, description="The `erase` run.")
    status_url: str | None = Field(default=None, description="`/api/runs/{instance_id}`.")
    counts: dict[str, int] = Field(
        default_factory=dict, description="Deleted items so far, per zone, table and store kind."
    )
    preview: ErasurePreview | None = None
