"""Moving a failed upload to the error zone without ever losing a blob."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dataops.errors import InvalidInputError
from dataops.paths import Zone, check_relative_path, error_marker_path
from dataops.storage.models import MoveResult

if TYPE_CHECKING:
    from dataops.storage.blob_zones import BlobZones

__all__ = ["SHADOWED_MARKER_SUFFIX", "move_prefix_to_error"]

# A source blob that is itself named `_error.json` would overwrite our marker; it keeps its
# content under this suffix instead.
SHADOWED_MARKER_SUFFIX = ".source"


def move_prefix_to_error(
    zones: BlobZones,
    zone: Zone,
    prefix: str,
    *,
    step: str,
    reason: str,
    details: Mapping[str, Any] | None = None,
    instance_id: str | None = None,
    measurement_id: str | None = None,
    datastream_id: str | None = None,
    now: datetime | None = None,
) -> MoveResult:
    """Copy each blob under ``zone/prefix`` to the error zone, verify it, then delete it (if-match).

    ``_error.json`` (step, reason, details, the measurement, datastream and instance ids, time,
    source) is written first, so no file ever sits in the error zone unexplained. It is for
    the uploader and operators: callers pass a one-line reason, never a traceback.
    A source blob is deleted only after its copy is verified, and only if it still has the
    etag that was copied. Running again after a crash converges: copies already verified are
    not repeated, deletes already done are gone from the listing, and the marker is rewritten
    with the latest attempt's time.
    """
    check_relative_path(prefix, field="prefix", source=zone.value)
    if zone is Zone.ERROR:
        raise InvalidInputError("cannot move the error zone into itself", field="zone")
    marker = error_marker_path(prefix)
    record = {
        "step": step,
        "reason": reason,
        "details": dict(details or {}),
        "measurement_id": measurement_id,
        "datastream_id": datastream_id,
        "instance_id": instance_id,
        "time": (now or datetime.now(UTC)).isoformat(),
        "source_zone": zone.value,
        "source_prefix": prefix,
    }
    zones.write_json(Zone.ERROR, marker, record)
    # Materialize the listing first: deleting while paging would shift nothing today, but
    # the listing should describe one moment, not a moving target.
    blobs = list(zones.list_blobs(zone, prefix))
    moved: list[str] = []
    for blob in blobs:
        destination = blob.path + SHADOWED_MARKER_SUFFIX if blob.path == marker else blob.path
        zones.copy(zone, blob.path, Zone.ERROR, destination, source_etag=blob.etag)
        zones.delete(zone, blob.path, etag=blob.etag)
        moved.append(blob.path)
    return MoveResult(marker_path=marker, moved=tuple(moved))
