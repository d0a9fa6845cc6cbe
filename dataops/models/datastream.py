"""Datastream: one product of one step, with a checked state machine and lineage sources."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from dataops.errors import InvalidTransitionError
from dataops.models.common import Identifier, UtcDatetime, utc_now
from dataops.paths import Zone

__all__ = [
    "TRANSITIONS",
    "Datastream",
    "DatastreamState",
    "DatastreamType",
    "Producer",
    "check_transition",
]


class DatastreamType(StrEnum):
    RAW = "RAW"
    EXTRACTED = "EXTRACTED"
    SYNCHRONIZED = "SYNCHRONIZED"
    ENRICHED = "ENRICHED"
    SCENES = "SCENES"
    # One per measurement in a labeling export: the package items of that measurement.
    LABEL_EXPORT = "LABEL_EXPORT"
    LABELED = "LABELED"
    # One MCAP of a time window of the measurement's recordings, in the share zone.
    CLIP = "CLIP"


class DatastreamState(StrEnum):
    CREATED = "CREATED"
    COPYING = "COPYING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


# COMPLETED and FAILED are final: a rerun makes a new datastream linked in lineage,
# so what downstream steps consumed is never rewritten under them.
TRANSITIONS: dict[DatastreamState, frozenset[DatastreamState]] = {
    DatastreamState.CREATED: frozenset(
        {DatastreamState.COPYING, DatastreamState.PROCESSING, DatastreamState.FAILED}
    ),
    DatastreamState.COPYING: frozenset({DatastreamState.COMPLETED, DatastreamState.FAILED}),
    DatastreamState.PROCESSING: frozenset({DatastreamState.COMPLETED, DatastreamState.FAILED}),
    DatastreamState.COMPLETED: frozenset(),
    DatastreamState.FAILED: frozenset(),
}


def check_transition(current: DatastreamState, target: DatastreamState) -> None:
    """Raise InvalidTransitionError unless ``current -> target`` is in the transition table."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final state)"
        raise InvalidTransitionError(
            f"datastream state {current} cannot change to {target}; allowed: {allowed}"
        )


class Producer(BaseModel):
    """Which step, code and run made a datastream."""

    model_config = ConfigDict(extra="forbid")

    step: Annotated[str, Field(max_length=64)]
    code_version: Annotated[str, Field(max_length=64)]
    instance_id: Annotated[str, Field(max_length=256)] | None = None


class Datastream(BaseModel):
    """A product of a step (RAW copy, extraction, ...) with its place in storage and lineage."""

    model_config = ConfigDict(extra="forbid")

    id: Identifier
    measurement_id: Identifier
    type: DatastreamType
    state: DatastreamState = DatastreamState.CREATED
    state_reason: Annotated[str, Field(max_length=4096)] | None = None
    zone: Zone
    path: Annotated[
        str, Field(max_length=1024, description="Prefix of the datastream in its zone.")
    ]
    producer: Producer
    sources: list[Identifier] = Field(
        default_factory=list, description="Datastream ids this one was made from."
    )
    stats: dict[str, Any] = Field(default_factory=dict)
    file_count: int = 0
    created_at: UtcDatetime = Field(default_factory=utc_now)
    updated_at: UtcDatetime = Field(default_factory=utc_now)
    etag: str | None = Field(default=None, description="Set by the store; opaque.")
