"""Decide a rerun of extraction: which RAW datastream, and whether one is running already.

A rerun makes a new EXTRACTED datastream (COMPLETED and FAILED are final; what downstream
steps consumed is never rewritten), so the old one stays and lineage shows both.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataops.errors import ConflictError
from dataops.models import Datastream, DatastreamState, DatastreamType
from dataops.store import MetadataStore

__all__ = ["ExtractionTarget", "extraction_target"]

_ACTIVE = frozenset({DatastreamState.CREATED, DatastreamState.PROCESSING})


@dataclass(frozen=True)
class ExtractionTarget:
    """The RAW datastream a rerun extracts from."""

    measurement_id: str
    raw: Datastream


def extraction_target(store: MetadataStore, measurement_id: str) -> ExtractionTarget:
    """The newest COMPLETED RAW datastream; ConflictError while an extraction is in progress.

    NotFoundError for an unknown measurement, ConflictError when there is nothing to extract
    yet (no COMPLETED RAW datastream).
    """
    store.get_measurement(measurement_id)
    running = store.list_datastreams(measurement_id, DatastreamType.EXTRACTED)
    busy = [ds.id for ds in running if ds.state in _ACTIVE]
    if busy:
        raise ConflictError(
            f"an extraction of measurement {measurement_id} is in progress (datastream {busy[0]})"
        )
    raws = [
        ds
        for ds in store.list_datastreams(measurement_id, DatastreamType.RAW)
        if ds.state is DatastreamState.COMPLETED
    ]
    if not raws:
        raise ConflictError(f"measurement {measurement_id} has no COMPLETED RAW datastream")
    newest = max(raws, key=lambda ds: ds.created_at)
    return ExtractionTarget(measurement_id, newest)
