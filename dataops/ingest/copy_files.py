"""Copy one validated landing file to raw and archive; delete the upload from landing after."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from dataops.errors import EtagMismatchError, NotFoundError
from dataops.models import MANIFEST_NAME
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones
from dataops.telemetry import record_bytes

__all__ = ["copy_to_raw_and_archive", "delete_from_landing"]

log = logging.getLogger(__name__)


def copy_to_raw_and_archive(
    zones: BlobZones,
    *,
    upload_prefix: str,
    path: str,
    etag: str,
    sha256: str,
    raw_prefix: str,
) -> dict[str, Any]:
    """Etag-guarded, verified copies; ``source_changed`` True when landing holds other bytes now."""
    source = join_path(upload_prefix, path)
    targets = ((Zone.RAW, join_path(raw_prefix, path)), (Zone.ARCHIVE, source))
    copies: list[dict[str, Any]] = []
    for zone, destination in targets:
        try:
            result = zones.copy(
                Zone.LANDING,
                source,
                zone,
                destination,
                source_etag=etag,
                expected_sha256=sha256,
            )
        except EtagMismatchError:
            log.warning("landing/%s changed after validation; revalidating", source)
            return {"path": path, "source_changed": True, "copies": copies}
        if not result.skipped:
            record_bytes("copied", result.size)
        copies.append({"zone": zone.value, "path": destination, "skipped": result.skipped})
    return {"path": path, "source_changed": False, "copies": copies}


def delete_from_landing(
    zones: BlobZones, *, upload_prefix: str, files: Iterable[dict[str, Any]], manifest_etag: str
) -> dict[str, int]:
    """Delete every verified file (if-match on its validated etag), the manifest last.

    Already-deleted blobs count as done, so a retry after a crash converges.
    """
    deleted = 0
    entries = [(join_path(upload_prefix, f["path"]), f["etag"]) for f in files]
    entries.append((join_path(upload_prefix, MANIFEST_NAME), manifest_etag))
    for path, etag in entries:
        try:
            zones.delete(Zone.LANDING, path, etag=etag)
            deleted += 1
        except NotFoundError:
            log.info("landing/%s already deleted", path)
        except EtagMismatchError:
            if _missing(zones, path):
                # Azurite answers 412 for an if-match delete of a missing blob.
                log.info("landing/%s already deleted", path)
                continue
            raise
    return {"deleted": deleted}


def _missing(zones: BlobZones, path: str) -> bool:
    try:
        zones.get_info(Zone.LANDING, path)
    except NotFoundError:
        return True
    return False
