"""A failed upload: its files go to the error zone with ``_error.json``; its datastream FAILED.

``_error.json`` is read by people and tools outside the platform (whoever uploaded the
files, an operator browsing the error zone), so it holds what they can act on: the step, a
one-line reason and the ids to look the run up with (measurement, datastream, instance).
Tracebacks and server paths stay in the logs, under the same instance id.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from dataops.errors import NotFoundError
from dataops.models import DatastreamState
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.store.transitions import advance_datastream

__all__ = ["MAX_REASON_LENGTH", "discard_upload", "fail_upload", "public_reason"]

log = logging.getLogger("avops.ingest")

MAX_REASON_LENGTH = 500
# An absolute server path (POSIX or Windows), e.g. in "File "/home/site/wwwroot/x.py"".
_SERVER_PATH = re.compile(r"(?<![\w.:/])(?:/[\w.@+-]+){2,}/?|\b[A-Za-z]:\\[^\s\"']+")
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"", re.MULTILINE)


def public_reason(text: str) -> str:
    """``text`` fit for ``_error.json``: first line, no traceback, no server path, bounded."""
    match = _TRACEBACK.search(text)
    head = text[: match.start()] if match else text
    line = next((part.strip() for part in head.splitlines() if part.strip()), "")
    line = _SERVER_PATH.sub("<path>", line)
    if len(line) > MAX_REASON_LENGTH:
        line = line[: MAX_REASON_LENGTH - 3] + "..."
    return line or "failed (see the logs of this instance)"


def fail_upload(
    zones: BlobZones,
    store: MetadataStore,
    *,
    upload_prefix: str,
    step: str,
    reason: str,
    details: str | None,
    instance_id: str | None,
    datastream_id: str | None,
) -> dict[str, Any]:
    """Move landing/<prefix> to error (verified, then deleted) and mark the datastream FAILED.

    ``details`` (the full error text, possibly a traceback) goes to the log, not the marker.
    """
    log.warning(
        "ingest of %s failed at step %s (instance %s, datastream %s): %s",
        upload_prefix,
        step,
        instance_id,
        datastream_id,
        details or reason,
    )
    measurement_id = _measurement_of(store, datastream_id)
    moved = zones.move_to_error(
        Zone.LANDING,
        upload_prefix,
        step=step,
        reason=public_reason(reason),
        instance_id=instance_id,
        measurement_id=measurement_id,
        datastream_id=datastream_id,
    )
    if datastream_id is not None:
        _mark_failed(store, datastream_id, f"{step}: {public_reason(reason)}")
    return {"marker_path": moved.marker_path, "moved": len(moved.moved)}


def _measurement_of(store: MetadataStore, datastream_id: str | None) -> str | None:
    if datastream_id is None:
        return None
    try:
        return store.get_datastream(datastream_id).measurement_id
    except NotFoundError:
        return None


def discard_upload(zones: BlobZones, *, upload_prefix: str) -> dict[str, Any]:
    """Delete landing/<prefix>: the upload belongs to an erased vehicle or measurement."""
    deleted = 0
    for info in list(zones.list_blobs(Zone.LANDING, upload_prefix)):
        try:
            zones.delete(Zone.LANDING, info.path, etag=info.etag)
        except NotFoundError:
            continue
        deleted += 1
    return {"discarded": deleted}


def _mark_failed(store: MetadataStore, datastream_id: str, reason: str) -> None:
    # A concurrent completion that wins is left alone: the completed copy stays on record.
    try:
        advance_datastream(
            store,
            datastream_id,
            DatastreamState.FAILED,
            when={DatastreamState.CREATED, DatastreamState.COPYING, DatastreamState.PROCESSING},
            reason=reason,
        )
    except NotFoundError:
        return
