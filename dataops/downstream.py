"""The change-feed routing of downstream steps: which orchestrator a finished datastream starts.

The datastreams change feed delivers whole documents, at least once, in batches. A datastream
that reached COMPLETED with a type in :data:`DOWNSTREAM` starts each of its orchestrators once: the
instance id is derived from the source datastream id, so a redelivered batch maps to the same
instance. The chain is EXTRACTED -> synchronize -> SYNCHRONIZED -> enrich -> ENRICHED ->
detect_scenes -> SCENES; a rerun (:func:`rerun_starts`) starts the same consumers under a
fresh instance id. A document that is no datastream is an error, never skipped: the batch fails,
so the host retries it and at last dead-letters it with the reason.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dataops.errors import ConflictError, InvalidInputError
from dataops.ids import instance_id_for
from dataops.models import Datastream, DatastreamState, DatastreamType
from dataops.store.cosmos import document_to_datastream
from dataops.store.documents import validate_document

if TYPE_CHECKING:
    from dataops.ingest.runs import RunControl, RunInfo

__all__ = [
    "DOWNSTREAM",
    "DownstreamPlan",
    "DownstreamStart",
    "decode_datastream",
    "downstream_starts",
    "plan_downstream",
    "rerun_starts",
    "start_once",
    "starts_for",
]

log = logging.getLogger("avops.downstream")

# Fixed forever: the output datastream id of a rerun follows from (source, nonce, step).
_RERUN_NAMESPACE = uuid.UUID("3d0c5a77-6b1e-5f42-8c39-2a9e7d41f0b6")

# Source datastream type (when COMPLETED) -> orchestrators that consume it, in start order.
# detect_scenes follows enrich, so night, rain and the enriched object classes are always
# there; a skipped step (logger-synchronized, no camera) still completes, with stats
# "skipped", so the chain always ends in a SCENES datastream. A FAILED step ends the chain
# there, its reason on the datastream; the operator reruns it (POST datastreams/{id}/rerun).
DOWNSTREAM: dict[DatastreamType, tuple[str, ...]] = {
    DatastreamType.EXTRACTED: ("synchronize",),
    DatastreamType.SYNCHRONIZED: ("enrich",),
    DatastreamType.ENRICHED: ("detect_scenes",),
}


@dataclass(frozen=True)
class DownstreamStart:
    """One orchestration to start: name, deterministic instance id, plain-dict input."""

    orchestrator: str
    instance_id: str
    input: dict[str, Any]


def decode_datastream(document: Mapping[str, Any]) -> Datastream:
    """The Datastream in a change-feed document; InvalidInputError naming document and field.

    A document with ``_etag`` is the cosmos store's, as Cosmos delivers it: the store decodes
    its own bookkeeping (:func:`~dataops.store.cosmos.document_to_datastream`). Otherwise it
    is the model's JSON, as the sqlite store's change log holds it.
    """
    if "_etag" in document:
        return document_to_datastream(document)
    source = f"datastreams document {str(document.get('id'))[:200]!r}"
    return validate_document(Datastream, document, source=source)


@dataclass(frozen=True)
class DownstreamPlan:
    """What a change-feed batch asks for, and the documents of it that could not be read."""

    starts: list[DownstreamStart]
    errors: list[InvalidInputError]

    def raise_errors(self) -> None:
        """InvalidInputError naming every document that could not be read, if any."""
        if self.errors:
            reasons = "; ".join(str(err) for err in self.errors)
            raise InvalidInputError(
                f"{len(self.errors)} change-feed document(s) are no datastream: {reasons}"
            ) from self.errors[0]


def starts_for(datastream: Datastream) -> list[DownstreamStart]:
    """The orchestrations a datastream's change asks for: none unless it is COMPLETED and of a
    type in :data:`DOWNSTREAM`; the instance ids follow from its id."""
    orchestrators = DOWNSTREAM.get(datastream.type, ())
    if not orchestrators or datastream.state is not DatastreamState.COMPLETED:
        log.debug(
            "change feed: nothing to start for %s %s %s",
            datastream.type,
            datastream.state,
            datastream.id,
        )
        return []
    return [
        DownstreamStart(
            orchestrator=orchestrator,
            instance_id=instance_id_for(orchestrator, datastream.id),
            input={
                "measurement_id": datastream.measurement_id,
                "source_datastream_id": datastream.id,
            },
        )
        for orchestrator in orchestrators
    ]


def plan_downstream(documents: Iterable[Mapping[str, Any]]) -> DownstreamPlan:
    """The orchestrations a batch asks for, one per source datastream, in batch order."""
    starts: dict[str, DownstreamStart] = {}
    errors: list[InvalidInputError] = []
    for document in documents:
        try:
            datastream = decode_datastream(document)
        except InvalidInputError as err:
            errors.append(err)
            continue
        for start in starts_for(datastream):
            starts.setdefault(start.instance_id, start)
    return DownstreamPlan(starts=list(starts.values()), errors=errors)


async def start_once(control: RunControl, start: DownstreamStart) -> RunInfo | None:
    """Start one downstream step unless its instance exists; the existing one, else None.

    At-least-once delivery: any existing instance (running, done or failed) means this change
    was handled; a rerun is an explicit operation (:func:`rerun_starts`), not a redelivery.
    The change-feed consumer and the dead-letter redrive both start steps only through this.
    """
    existing = await control.status(start.instance_id)
    if existing is not None:
        log.info(
            "change feed: %s for %s already exists (%s)",
            start.instance_id,
            start.input["source_datastream_id"],
            existing.runtime_status,
        )
        return existing
    await control.start(start.orchestrator, start.instance_id, start.input)
    log.info(
        "change feed: started %s %s for datastream %s of %s",
        start.orchestrator,
        start.instance_id,
        start.input["source_datastream_id"],
        start.input["measurement_id"],
    )
    return None


def downstream_starts(documents: Iterable[Mapping[str, Any]]) -> list[DownstreamStart]:
    """:func:`plan_downstream`'s starts; InvalidInputError if a document could not be read."""
    plan = plan_downstream(documents)
    plan.raise_errors()
    return plan.starts


def rerun_starts(source: Datastream, nonce: str) -> list[DownstreamStart]:
    """The steps that consume ``source``, once more, each under a new instance id.

    ``nonce`` (unique per rerun request) keeps the instance apart from the change feed's
    (which stays, with its output) and from earlier reruns; the input names the new output
    datastream id, so the caller can report it before the run made it. Steps read their
    config at run time, so a rerun after a config change gives a new, different output.
    """
    orchestrators = DOWNSTREAM.get(source.type, ())
    if not orchestrators:
        raise InvalidInputError(
            f"no step consumes {source.type} datastreams (datastream {source.id})", field="id"
        )
    if source.state is not DatastreamState.COMPLETED:
        raise ConflictError(
            f"datastream {source.id} is {source.state}: only a COMPLETED one can be rerun from"
        )
    return [
        DownstreamStart(
            orchestrator=orchestrator,
            instance_id=instance_id_for(orchestrator, f"{source.id}|rerun|{nonce}"),
            input={
                "measurement_id": source.measurement_id,
                "source_datastream_id": source.id,
                "datastream_id": str(
                    uuid.uuid5(_RERUN_NAMESPACE, f"{source.id}|{nonce}|{orchestrator}")
                ),
            },
        )
        for orchestrator in orchestrators
    ]
