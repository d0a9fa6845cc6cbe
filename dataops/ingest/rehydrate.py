"""Rehydrate: put an ingested or failed upload back into landing so a fresh run can take it.

Where the bytes are after a run:

* completed ingest: every listed file in ``archive/<prefix>/`` (verified against the manifest);
  the manifest itself is not archived, so it is rebuilt from the Measurement, which holds
  every manifest field (and the measurement id, so the rerun reuses the same Measurement);
* failed ingest: everything, manifest included, in ``error/<prefix>/`` next to ``_error.json``;
* a run terminated by the reconciler: still in ``landing/<prefix>/`` (nothing to restore).

Rules: archive and error are only read, never written or deleted (a failed upload stays in the
error zone with its ``_error.json`` as the record of what went wrong; a rerun that fails again
is moved onto the same paths). Every copy into landing is etag-guarded and verified, and the
manifest is written last, so nothing that reacts to manifests (Event Grid, the reconciler)
sees a half-restored upload. A retry after a partial restore converges: verified copies are
skipped, the rest is copied. A landing blob that holds *other* bytes than the source is never
overwritten (someone is uploading there): ConflictError.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

from dataops.errors import ConflictError, NotFoundError
from dataops.models import (
    MANIFEST_NAME,
    DatastreamType,
    FileRecord,
    Manifest,
    Measurement,
)
from dataops.paths import Zone, check_relative_path, error_marker_path, join_path
from dataops.storage import BlobZones
from dataops.storage.error_zone import SHADOWED_MARKER_SUFFIX
from dataops.storage.models import BlobInfo
from dataops.store import MetadataStore, all_measurement_files

__all__ = [
    "RegisteredUpload",
    "RestoreResult",
    "RestoredFrom",
    "lineage_sources",
    "manifest_from_measurement",
    "restore_upload",
]

log = logging.getLogger(__name__)

RestoredFrom = Literal["landing", "archive", "error"]


@dataclass(frozen=True)
class RestoreResult:
    """Where the upload came from and how many blobs were copied (skipped ones not counted)."""

    upload_prefix: str
    restored_from: RestoredFrom
    files: int
    copied: int
    manifest_rebuilt: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for logs and responses."""
        return asdict(self)


@dataclass(frozen=True)
class RegisteredUpload:
    """An upload's Measurement with its manifest's file records, as the store holds them."""

    measurement: Measurement
    files: list[FileRecord]

    @classmethod
    def read(cls, store: MetadataStore, measurement: Measurement) -> RegisteredUpload:
        """``measurement`` with every file record the store lists for it."""
        return cls(measurement, list(all_measurement_files(store, measurement.id)))


def manifest_from_measurement(measurement: Measurement, files: list[FileRecord]) -> Manifest:
    """The manifest a Measurement was registered from, with its id pinned.

    Pinning ``measurement_id`` keeps the rerun on the same Measurement even if the id was
    derived; the content hash does not include the id, so ``create_measurement`` sees the
    same content and returns the stored document.
    """
    return Manifest.model_validate(
        {
            "schema_version": "1.0",
            "vehicle_id": measurement.vehicle_id,
            "recording_start": measurement.recording_start,
            "recording_end": measurement.recording_end,
            "measurement_id": measurement.id,
            "tags": list(measurement.tags),
            "project": measurement.project,
            "driver": measurement.driver,
            "logger_synchronized": measurement.logger_synchronized,
            "files": [
                {"path": f.path, "format": f.format, "size": f.size, "sha256": f.sha256}
                for f in files
            ],
        }
    )


def _listing(zones: BlobZones, zone: Zone, prefix: str) -> dict[str, BlobInfo]:
    """Blobs under ``zone/prefix`` keyed by their path below the prefix."""
    return {info.path.removeprefix(prefix + "/"): info for info in zones.list_blobs(zone, prefix)}


def _archive_complete(archived: dict[str, BlobInfo], manifest: Manifest) -> bool:
    """Every listed file is archived with its listed size (and hash, where recorded)."""
    for item in manifest.files:
        info = archived.get(item.path)
        if info is None or info.size != item.size:
            return False
        if info.sha256 is not None and info.sha256 != item.sha256:
            return False
    return True


def _same_bytes(source: BlobInfo, target: BlobInfo) -> bool:
    if source.size != target.size:
        return False
    if source.content_md5 is not None and target.content_md5 is not None:
        return source.content_md5 == target.content_md5
    if source.sha256 is not None and target.sha256 is not None:
        return source.sha256 == target.sha256
    # Same size and no digest to compare: copy() decides (it re-verifies or copies again).
    return True


def _copy_into_landing(
    zones: BlobZones,
    zone: Zone,
    prefix: str,
    plan: list[tuple[str, BlobInfo, str | None]],
    landing: dict[str, BlobInfo],
) -> int:
    """Copy each (landing name, source blob, expected sha256); return the number copied."""
    for name, source, _ in plan:
        present = landing.get(name)
        if present is not None and not _same_bytes(source, present):
            raise ConflictError(
                f"landing/{join_path(prefix, name)} holds other bytes than {zone.value}/"
                f"{source.path}; finish or remove that upload before rehydrating"
            )
    copied = 0
    for name, source, sha256 in plan:
        result = zones.copy(
            zone,
            source.path,
            Zone.LANDING,
            join_path(prefix, name),
            source_etag=source.etag,
            expected_sha256=sha256,
        )
        copied += 0 if result.skipped else 1
    return copied


def restore_upload(
    zones: BlobZones,
    upload_prefix: str,
    *,
    max_manifest_bytes: int,
    registered: RegisteredUpload | None = None,
) -> RestoreResult:
    """Put ``upload_prefix`` back into landing from archive (complete) or error, manifest last.

    ``registered`` (the upload's Measurement and files, if known) rebuilds the manifest of an
    archived upload. NotFoundError when the upload is in none of landing, archive and error.
    """
    prefix = check_relative_path(upload_prefix, field="upload_prefix")
    manifest_path = join_path(prefix, MANIFEST_NAME)
    landing = _listing(zones, Zone.LANDING, prefix)
    if MANIFEST_NAME in landing:
        # The manifest is written last, so the upload is already (or still) complete in landing.
        return RestoreResult(prefix, "landing", files=len(landing) - 1, copied=0)

    if registered is not None and registered.measurement.upload_prefix == prefix:
        archived = _listing(zones, Zone.ARCHIVE, prefix)
        manifest = manifest_from_measurement(registered.measurement, registered.files)
        if _archive_complete(archived, manifest):
            plan: list[tuple[str, BlobInfo, str | None]] = [
                (item.path, archived[item.path], item.sha256) for item in manifest.files
            ]
            copied = _copy_into_landing(zones, Zone.ARCHIVE, prefix, plan, landing)
            body = json.dumps(manifest.model_dump(mode="json", exclude_none=True), indent=2)
            zones.write_bytes(
                Zone.LANDING, manifest_path, body.encode(), content_type="application/json"
            )
            log.info("restored %s from archive (%d copied)", prefix, copied)
            return RestoreResult(
                prefix, "archive", files=len(plan), copied=copied, manifest_rebuilt=True
            )

    failed = _listing(zones, Zone.ERROR, prefix)
    if MANIFEST_NAME in failed:
        marker = error_marker_path(prefix).removeprefix(prefix + "/")
        shadowed = marker + SHADOWED_MARKER_SUFFIX
        plan = []
        for name, info in sorted(failed.items()):
            if name in (marker, MANIFEST_NAME):
                continue
            # An upload file that was itself named _error.json was kept under a suffix.
            original = marker if name == shadowed else name
            # No expected hash: a failed upload may hold exactly the wrong bytes it failed on,
            # and the rerun must see those to report them again. copy() still verifies.
            plan.append((original, info, None))
        copied = _copy_into_landing(zones, Zone.ERROR, prefix, plan, landing)
        copied += _copy_into_landing(
            zones, Zone.ERROR, prefix, [(MANIFEST_NAME, failed[MANIFEST_NAME], None)], landing
        )
        log.info("restored %s from the error zone (%d copied)", prefix, copied)
        return RestoreResult(prefix, "error", files=len(plan), copied=copied)

    raise NotFoundError(
        f"upload {prefix} is not in landing, the archive (complete) or the error zone"
        + ("" if registered is not None else "; rerun it by measurement id if it was ingested")
    )


def lineage_sources(store: MetadataStore, measurement_id: str, upload_prefix: str) -> list[str]:
    """RAW datastreams of this upload that no later RAW datastream names as a source yet.

    A rerun's datastream lists them, so reruns form a chain (old -> new) in the lineage.
    """
    raw = [
        stream
        for stream in store.list_datastreams(measurement_id, DatastreamType.RAW)
        if stream.stats.get("upload_prefix", upload_prefix) == upload_prefix
    ]
    superseded = {source for stream in raw for source in stream.sources}
    return [stream.id for stream in raw if stream.id not in superseded]
