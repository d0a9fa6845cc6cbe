"""A failed upload: its files go to the error zone with ``_error.json``; its datastream FAILED."""

from __future__ import annotations

from typing import Any

from dataops.errors import InvalidTransitionError, NotFoundError
from dataops.models import DatastreamState
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = ["fail_upload"]


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
    """Move landing/<prefix> to error (verified, then deleted) and mark the datastream FAILED."""
    moved = zones.move_to_error(
        Zone.LANDING,
        upload_prefix,
        step=step,
        reason=reason,
        details={"message": details} if details else None,
        instance_id=instance_id,
    )
    if datastream_id is not None:
        _mark_failed(store, datastream_id, f"{step}: {reason}")
    return {"marker_path": moved.marker_path, "moved": len(moved.moved)}


def _mark_failed(store: MetadataStore, datastream_id: str, reason: str) -> None:
    try:
        datastream = store.get_datastream(datastream_id)
    except NotFoundError:
        return
    if datastream.state in (DatastreamState.FAILED, DatastreamState.COMPLETED):
        return
    assert datastream.etag is not None
    try:
        store.transition_datastream(
            datastream_id, DatastreamState.FAILED, expected_etag=datastream.etag, reason=reason
        )
    except InvalidTransitionError:
        # A concurrent completion won; the completed copy is what stays on record.
        return
