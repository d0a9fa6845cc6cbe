"""The change-feed routing of downstream steps: which orchestrator a finished datastream starts.

The datastreams change feed delivers whole documents, at least once, in batches. A datastream
that reached COMPLETED with a type in :data:`DOWNSTREAM` starts each of its orchestrators once: the
instance id is derived from the source datastream id, so a redelivered batch maps to the same
instance. The chain is EXTRACTED -> synchronize -> SYNCHRONIZED -> enrich -> ENRICHED ->
detect_scenes -> SCENES; a rerun (:func:`rerun_starts`) starts the same consumers under a
fresh instance id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from dataops.errors import ConflictError, InvalidInputError
from dataops.ids import instance_id_for
from dataops.models import Datastream, DatastreamState, DatastreamType

__all__ = [
    "DOWNSTREAM",
    "DownstreamStart",
    "decode_datastream",
    "downstream_starts",
    "rerun_starts",
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


def decode_datastream(document: Mapping[str, Any]) -> Datastream | None:
    """The Datastream in a change-feed document, or None if it is not one (logged at debug).

    Cosmos adds system properties (``_rid``, ``_ts``, ``_etag``, ...) that the model forbids;
    they are dropped, and ``_etag`` stands in for the store's etag when there is none.
    """
    body = {key: value for key, value in document.items() if not str(key).startswith("_")}
    if "etag" not in body and isinstance(document.get("_etag"), str):
        body["etag"] = document["_etag"]
    try:
        return Datastream.model_validate(body)
    except ValidationError as err:
        log.debug("change feed: skipped a document that is no datastream (%s)", err)
        return None


def downstream_starts(documents: Iterable[Mapping[str, Any]]) -> list[DownstreamStart]:
    """The orchestrations a batch asks for, one per source datastream, in batch order."""
    starts: dict[str, DownstreamStart] = {}
    for document in documents:
        datastream = decode_datastream(document)
        if datastream is None:
            continue
        orchestrators = DOWNSTREAM.get(datastream.type, ())
        if not orchestrators or datastream.state is not DatastreamState.COMPLETED:
            log.debug(
                "change feed: nothing to start for %s %s %s",
                datastream.type,
                datastream.state,
                datastream.id,
            )
            continue
        for orchestrator in orchestrators:
            instance_id = instance_id_for(orchestrator, datastream.id)
            starts.setdefault(
                instance_id,
                DownstreamStart(
                    orchestrator=orchestrator,
                    instance_id=instance_id,
                    input={
                        "measurement_id": datastream.measurement_id,
                        "source_datastream_id": datastream.id,
                    },
                ),
            )
    return list(starts.values())


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
