"""The output datastream of a change-feed step: prepare it, complete it, or mark it FAILED.

``synchronize``, ``enrich`` and ``detect_scenes`` each make one datastream in the curated zone
from their sources, the same way: created (idempotent by id, which the orchestrator chose),
CREATED -> PROCESSING, later COMPLETED with stats or FAILED with a reason. State changes are only
made from the state they leave, so a retried activity changes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataops import __version__
from dataops.errors import InvalidInputError, NotFoundError
from dataops.models import Datastream, DatastreamState, DatastreamType, Producer
from dataops.paths import Zone, raw_prefix
from dataops.store import MetadataStore

__all__ = [
    "OneSourceStep",
    "complete_output",
    "completed_source",
    "fail_output",
    "prepare_output",
]


def completed_source(
    store: MetadataStore, datastream_id: str, *types: DatastreamType
) -> Datastream:
    """The source datastream, checked to be COMPLETED and of one of ``types``."""
    source = store.get_datastream(datastream_id)
    if source.type not in types:
        wanted = " or ".join(str(t) for t in types)
        raise InvalidInputError(f"datastream {source.id} is {source.type}, not {wanted}")
    if source.state is not DatastreamState.COMPLETED:
        raise InvalidInputError(
            f"{source.type} datastream {source.id} is {source.state}, not COMPLETED"
        )
    return source


def prepare_output(
    store: MetadataStore,
    *,
    measurement_id: str,
    datastream_id: str,
    datastream_type: DatastreamType,
    step: str,
    instance_id: str,
    sources: list[str],
) -> dict[str, Any]:
    """The step's output datastream PROCESSING in the curated zone (created if missing)."""
    measurement = store.get_measurement(measurement_id)
    prefix = raw_prefix(
        measurement.recording_start, measurement.vehicle_id, measurement.id, datastream_id
    )
    datastream = store.create_datastream(
        Datastream(
            id=datastream_id,
            measurement_id=measurement.id,
            type=datastream_type,
            zone=Zone.CURATED,
            path=prefix,
            producer=Producer(step=step, code_version=__version__, instance_id=instance_id),
            sources=sources,
        )
    )
    if datastream.state is DatastreamState.CREATED:
        assert datastream.etag is not None
        store.transition_datastream(
            datastream.id, DatastreamState.PROCESSING, expected_etag=datastream.etag
        )
    return {"datastream_id": datastream_id, "measurement_id": measurement.id, "path": prefix}


def complete_output(store: MetadataStore, datastream_id: str, stats: dict[str, Any]) -> Datastream:
    """PROCESSING -> COMPLETED with ``stats``; a datastream already past it is returned as is."""
    # Re-read: attaching files changed the document (file_count) and so its etag.
    datastream = store.get_datastream(datastream_id)
    if datastream.state is DatastreamState.PROCESSING:
        assert datastream.etag is not None
        datastream = store.transition_datastream(
            datastream_id, DatastreamState.COMPLETED, expected_etag=datastream.etag, stats=stats
        )
    return datastream


def fail_output(store: MetadataStore, *, datastream_id: str, reason: str) -> dict[str, Any]:
    """The output datastream FAILED with ``reason`` (if it exists and is not final)."""
    try:
        datastream = store.get_datastream(datastream_id)
    except NotFoundError:
        # Failed before prepare made it (e.g. the source is not COMPLETED).
        return {"datastream_id": datastream_id, "reason": reason}
    if datastream.state in (DatastreamState.CREATED, DatastreamState.PROCESSING):
        assert datastream.etag is not None
        store.transition_datastream(
            datastream_id, DatastreamState.FAILED, expected_etag=datastream.etag, reason=reason
        )
    return {"datastream_id": datastream_id, "reason": reason}


@dataclass(frozen=True)
class OneSourceStep:
    """A step made from one COMPLETED datastream of ``source_type`` (synchronize, enrich)."""

    step: str
    source_type: DatastreamType
    output_type: DatastreamType

    def prepare(
        self,
        store: MetadataStore,
        *,
        source_datastream_id: str,
        datastream_id: str,
        instance_id: str,
    ) -> dict[str, Any]:
        """The output datastream PROCESSING in the curated zone; sources: the one source."""
        source = completed_source(store, source_datastream_id, self.source_type)
        return prepare_output(
            store,
            measurement_id=source.measurement_id,
            datastream_id=datastream_id,
            datastream_type=self.output_type,
            step=self.step,
            instance_id=instance_id,
            sources=[source.id],
        )
