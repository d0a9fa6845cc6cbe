"""The change-feed routing of downstream steps: which orchestrator a finished datastream starts.

The datastreams change feed delivers whole documents, at least once, in batches. A datastream
that reached COMPLETED with a type in :data:`DOWNSTREAM` starts each of its orchestrators once: the
instance id is derived from the source datastream id, so a redelivered batch maps to the same
instance. The next step (ENRICHED -> detect_scenes) is a row here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from dataops.ids import instance_id_for
from dataops.models import Datastream, DatastreamState, DatastreamType

__all__ = ["DOWNSTREAM", "DownstreamStart", "decode_datastream", "downstream_starts"]

log = logging.getLogger("avops.downstream")

# Source datastream type (when COMPLETED) -> orchestrators that consume it, in start order.
# detect_scenes runs from SYNCHRONIZED next to enrich for now (it uses an ENRICHED table only
# when one is already there); once enrich is settled it moves to ENRICHED -> detect_scenes.
DOWNSTREAM: dict[DatastreamType, tuple[str, ...]] = {
    DatastreamType.EXTRACTED: ("synchronize",),
    DatastreamType.SYNCHRONIZED: ("enrich", "detect_scenes"),
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
