"""Dead letters of the change-feed consumer: a batch that failed its last attempt, on record.

In Azure the Cosmos DB trigger retries a failing batch only by the function's retry policy and
moves its lease on after the last failure, so whatever the last attempt could not do would be
gone without a trace. The consumer writes this record first: one JSON blob in the error zone per
batch, holding the reason and the identity of every document (id, measurement, type, state,
etag), never the documents' bodies. Handing the batch back means re-delivering those
datastreams: rerun the step (``POST /api/datastreams/{id}/rerun``) or touch the document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dataops.paths import Zone

if TYPE_CHECKING:
    from dataops.storage.blob_zones import BlobZones

__all__ = ["DEAD_LETTER_PREFIX", "dead_letter_record", "record_dead_letter"]

# Under the error zone, apart from uploads' folders (which are named by date).
DEAD_LETTER_PREFIX = "_deadletters/changefeed"
# What a record keeps of each document: enough to find it again, nothing more.
_IDENTITY_FIELDS = ("id", "measurement_id", "type", "state", "_etag", "_lsn")
# A hostile or broken document cannot blow up the record.
_MAX_FIELD_CHARS = 256
_MAX_REASON_CHARS = 2048


def _identity(document: Mapping[str, Any]) -> dict[str, str | None]:
    kept: dict[str, str | None] = {}
    for field in _IDENTITY_FIELDS:
        value = document.get(field)
        kept[field] = None if value is None else str(value)[:_MAX_FIELD_CHARS]
    return kept


def dead_letter_record(
    *,
    function: str,
    documents: Iterable[Mapping[str, Any]],
    reason: str,
    attempts: int,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The record of one failed batch and its path in the error zone (pure)."""
    moment = now or datetime.now(UTC)
    identities = [_identity(d) for d in documents]
    digest = hashlib.sha256(json.dumps(identities, sort_keys=True).encode()).hexdigest()[:16]
    path = f"{DEAD_LETTER_PREFIX}/{function}/{moment:%Y/%m/%d/%H%M%S}-{digest}.json"
    record = {
        "function": function,
        "reason": reason.splitlines()[0][:_MAX_REASON_CHARS] if reason else "",
        "attempts": attempts,
        "time": moment.isoformat(),
        "documents": identities,
    }
    return path, record


def record_dead_letter(
    zones: BlobZones,
    *,
    function: str,
    documents: Iterable[Mapping[str, Any]],
    reason: str,
    attempts: int,
    now: datetime | None = None,
) -> str:
    """Write the record of a failed batch to the error zone; returns its path."""
    path, record = dead_letter_record(
        function=function, documents=documents, reason=reason, attempts=attempts, now=now
    )
    zones.write_json(Zone.ERROR, path, record)
    return path
