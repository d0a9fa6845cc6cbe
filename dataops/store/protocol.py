"""The metadata store: domain operations that both backends (sqlite, cosmos) implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
    Measurement,
    MeasurementState,
    Scene,
)

__all__ = [
    "MAX_LINEAGE_DEPTH",
    "MAX_PAGE_SIZE",
    "ChangeBatch",
    "ChangeFeedContainer",
    "LineageDirection",
    "LineageEdge",
    "LineageGraph",
    "MeasurementQuery",
    "MetadataStore",
    "Page",
    "SceneQuery",
]

MAX_PAGE_SIZE = 1000
MAX_LINEAGE_DEPTH = 32

ChangeFeedContainer = Literal["measurements", "datastreams", "scenes"]


class LineageDirection(StrEnum):
    UP = "up"
    DOWN = "down"
    BOTH = "both"


@dataclass(frozen=True)
class MeasurementQuery:
    """Filters for measurements; every value is bound as a parameter, never spliced into text.

    ``recorded_from``/``recorded_to`` select recordings that overlap that span (both ends
    inclusive; either may be open). Filters combine with AND.
    """

    vehicle_id: str | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    tag: str | None = None
    state: MeasurementState | None = None
    limit: int = 100
    continuation: str | None = None


@dataclass(frozen=True)
class SceneQuery:
    """Filters for scenes (AND); ``start_from``/``start_to`` bound the scene start, inclusive."""

    type: str | None = None
    vehicle_id: str | None = None
    measurement_id: str | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    limit: int = 100
    continuation: str | None = None


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results; ``continuation`` is opaque and None on the last page."""

    items: list[T]
    continuation: str | None = None


@dataclass(frozen=True)
class LineageEdge:
    source: str
    target: str


@dataclass(frozen=True)
class LineageGraph:
    """Datastreams reachable from ``root`` and the source -> target edges between them."""

    root: str
    nodes: dict[str, Datastream] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)
    truncated: bool = False


@dataclass(frozen=True)
class ChangeBatch:
    """Documents changed after a checkpoint (latest version only, no deletes, like Cosmos)."""

    documents: list[dict[str, Any]]
    checkpoint: str


@runtime_checkable
class MetadataStore(Protocol):
    """Domain operations on measurements, datastreams, file records, lineage and scenes."""

    # measurements
    def create_measurement(
        self, measurement: Measurement, files: Sequence[FileRecord] = ()
    ) -> Measurement:
        """Insert with its manifest's file records (as many as ``file_count`` says).

        Same id + same content returns the stored one, other content: ConflictError.
        """
        ...

    def get_measurement(self, measurement_id: str) -> Measurement:
        """Raise NotFoundError when absent."""
        ...

    def set_measurement_state(
        self, measurement_id: str, state: MeasurementState, expected_etag: str | None = None
    ) -> Measurement: ...

    def query_measurements(self, query: MeasurementQuery) -> Page[Measurement]:
        """Newest recording first; limit capped at MAX_PAGE_SIZE."""
        ...

    def list_measurement_files(
        self, measurement_id: str, limit: int = 100, continuation: str | None = None
    ) -> Page[FileRecord]:
        """The manifest's file records of a measurement in path order; NotFoundError if absent."""
        ...

    # datastreams
    def create_datastream(self, datastream: Datastream) -> Datastream:
        """Insert; an existing id with the same type and measurement is returned as it is."""
        ...

    def get_datastream(self, datastream_id: str) -> Datastream: ...

    def list_datastreams(
        self,
        measurement_id: str,
        type: DatastreamType | None = None,  # noqa: A002 - the model's field name, kept for callers
    ) -> list[Datastream]: ...

    def transition_datastream(
        self,
        datastream_id: str,
        target: DatastreamState,
        *,
        expected_etag: str,
        reason: str | None = None,
        stats: dict[str, Any] | None = None,
    ) -> Datastream:
        """Checked state change; EtagMismatchError if the document changed since it was read."""
        ...

    def attach_files(self, datastream_id: str, files: Sequence[FileRecord]) -> int:
        """Upsert file records by path; returns the datastream's file count afterwards."""
        ...

    def list_files(
        self, datastream_id: str, limit: int = 100, continuation: str | None = None
    ) -> Page[FileRecord]: ...

    def lineage(
        self, datastream_id: str, direction: LineageDirection, depth: int = 8
    ) -> LineageGraph:
        """Walk sources (up) and consumers (down) breadth-first, at most ``depth`` levels."""
        ...

    # scenes
    def upsert_scenes(self, scenes: Sequence[Scene]) -> int: ...

    def query_scenes(self, query: SceneQuery) -> Page[Scene]: ...

    def get_scene(self, scene_id: str) -> Scene:
        """Raise NotFoundError when absent."""
        ...

    # erasure
    def erase_documents(
        self, measurement_ids: Sequence[str], datastream_ids: Sequence[str]
    ) -> dict[str, int]:
        """Delete measurements, datastreams, their file records and scenes for good.

        Also from the change log, and so that no deleted bytes stay in the backend's files
        where the backend allows it (sqlite). Idempotent; returns counts per document kind.
        """
        ...

    # change feed
    def read_changes(
        self, container: ChangeFeedContainer, checkpoint: str | None, max_items: int = 100
    ) -> ChangeBatch:
        """Documents written after ``checkpoint`` (None: from the beginning), oldest first."""
        ...

    def close(self) -> None: ...
