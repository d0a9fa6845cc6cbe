"""Stranded uploads: landing prefixes older than the threshold that no active run works on.

Landing is a waiting room: every blob there is either an upload whose ``ingest`` run is active,
or one a run will pick up soon, or *stranded*. This module finds the stranded ones, whatever the
reason (:data:`REASONS`), from one listing of landing and the run status of each manifest, so
the reconciler can report them every pass and ``GET /api/landing/stranded`` can list them.

A blob belongs to the nearest upload prefix above it that holds a ``manifest.json``; blobs with
no manifest above them are grouped by their folder (reason ``no_manifest``). The listing is
streamed and aggregated per folder, so memory grows with the number of folders, not blobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dataops.ids import instance_id_for
from dataops.ingest.runs import INGEST, RunControl
from dataops.models import MANIFEST_NAME
from dataops.paths import Zone
from dataops.storage import BlobInfo, BlobZones

__all__ = [
    "REASONS",
    "LandingUpload",
    "StrandedReason",
    "StrandedUpload",
    "find_stranded",
    "landing_folders",
]

StrandedReason = Literal[
    "no_manifest", "empty_manifest", "no_run", "run_completed", "run_failed", "run_ended"
]
REASONS: dict[str, str] = {
    "no_manifest": "files without a manifest.json above them",
    "empty_manifest": "manifest.json is empty (0 bytes)",
    "no_run": "manifest without any ingest run (lost event, or the reconciler is behind)",
    "run_completed": "the upload's last run completed and left these blobs behind",
    "run_failed": "the upload's last run failed and left these blobs behind",
    "run_ended": "the upload's last run was terminated or canceled",
}


@dataclass
class LandingUpload:
    """One upload prefix in landing (or a folder with no manifest above it), aggregated."""

    files: int = 0
    bytes: int = 0
    newest: datetime | None = None
    manifest_size: int | None = None
    manifest_etag: str | None = None

    def add(self, size: int, modified: datetime) -> None:
        self.files += 1
        self.bytes += size
        if self.newest is None or modified > self.newest:
            self.newest = modified


@dataclass(frozen=True)
class StrandedUpload:
    """One stranded landing prefix and why it is stranded."""

    upload_prefix: str
    reason: StrandedReason
    files: int
    bytes: int
    last_modified: datetime
    manifest_etag: str | None = None
    instance_id: str | None = None
    runtime_status: str | None = None
    detail: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the API's and the log's shape)."""
        return {
            "upload_prefix": self.upload_prefix,
            "reason": self.reason,
            "detail": self.detail or REASONS[self.reason],
            "files": self.files,
            "bytes": self.bytes,
            "last_modified": self.last_modified.isoformat(),
            "manifest_etag": self.manifest_etag,
            "instance_id": self.instance_id,
            "runtime_status": self.runtime_status,
        }


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def landing_folders(listing: Iterable[BlobInfo]) -> dict[str, LandingUpload]:
    """A listing of landing aggregated by upload: manifest prefixes own every blob below them."""
    folders: dict[str, LandingUpload] = {}
    for info in listing:
        folder = folders.setdefault(_parent(info.path), LandingUpload())
        if info.path.endswith("/" + MANIFEST_NAME):
            folder.manifest_size = info.size
            folder.manifest_etag = info.etag
        folder.add(info.size, info.last_modified)
    uploads: dict[str, LandingUpload] = {}
    for path in sorted(folders):
        owner = _owner(path, folders)
        target = uploads.setdefault(owner, LandingUpload())
        part = folders[path]
        if owner == path:
            target.manifest_size = part.manifest_size
            target.manifest_etag = part.manifest_etag
        target.files += part.files
        target.bytes += part.bytes
        if part.newest is not None and (target.newest is None or part.newest > target.newest):
            target.newest = part.newest
    return uploads


def _owner(path: str, folders: dict[str, LandingUpload]) -> str:
    """The nearest folder at or above ``path`` with a manifest, else ``path`` itself."""
    candidate = path
    while candidate:
        found = folders.get(candidate)
        if found is not None and found.manifest_size is not None:
            return candidate
        candidate = _parent(candidate)
    return path


def _finished_reason(runtime_status: str | None) -> StrandedReason:
    if runtime_status == "Completed":
        return "run_completed"
    if runtime_status == "Failed":
        return "run_failed"
    return "run_ended"


def _row(
    prefix: str,
    upload: LandingUpload,
    reason: StrandedReason,
    *,
    instance_id: str | None = None,
    runtime_status: str | None = None,
) -> StrandedUpload:
    assert upload.newest is not None
    return StrandedUpload(
        upload_prefix=prefix,
        reason=reason,
        files=upload.files,
        bytes=upload.bytes,
        last_modified=upload.newest,
        manifest_etag=upload.manifest_etag,
        instance_id=instance_id,
        runtime_status=runtime_status,
    )


async def find_stranded(
    control: RunControl,
    zones: BlobZones,
    *,
    older_than: datetime,
    uploads: dict[str, LandingUpload] | None = None,
) -> list[StrandedUpload]:
    """Every landing upload last written before ``older_than`` with no active run, by prefix.

    ``uploads``: landing as :func:`landing_folders` aggregated it from a listing the caller
    made already (the reconciler lists landing once per pass); without it, listed here.
    """
    if uploads is None:
        uploads = await asyncio.to_thread(lambda: landing_folders(zones.list_blobs(Zone.LANDING)))
    stranded: list[StrandedUpload] = []
    for prefix, upload in sorted(uploads.items()):
        assert upload.newest is not None  # every folder holds at least one blob
        if upload.newest > older_than:
            continue
        if upload.manifest_size is None or not prefix:
            stranded.append(_row(prefix, upload, "no_manifest"))
            continue
        instance_id = instance_id_for(INGEST, prefix)
        run = await control.status(instance_id)
        if run is not None and run.active:
            continue
        if upload.manifest_size == 0:
            reason: StrandedReason = "empty_manifest"
        elif run is None:
            reason = "no_run"
        else:
            reason = _finished_reason(run.runtime_status)
        stranded.append(
            _row(
                prefix,
                upload,
                reason,
                instance_id=instance_id if run is not None else None,
                runtime_status=run.runtime_status if run is not None else None,
            )
        )
    return stranded
