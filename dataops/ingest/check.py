"""Is the upload complete? Manifest valid, every listed file present with the listed size."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from dataops.errors import EtagMismatchError, InvalidInputError
from dataops.manifest import parse_manifest
from dataops.models import MANIFEST_NAME, Manifest
from dataops.paths import Zone, check_relative_path, join_path
from dataops.settings import UnlistedFilePolicy
from dataops.storage import BlobZones

__all__ = ["UploadCheck", "UploadFile", "check_upload", "read_manifest"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadFile:
    """A listed file as found in landing: the etag pins the exact bytes that were validated."""

    path: str
    size: int
    sha256: str
    etag: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "etag": self.etag}


@dataclass(frozen=True)
class UploadCheck:
    upload_prefix: str
    manifest: Manifest
    manifest_etag: str
    files: list[UploadFile]
    missing: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the Durable boundary: ids, paths, sizes, etags; never file data."""
        return {
            "upload_prefix": self.upload_prefix,
            "manifest_etag": self.manifest_etag,
            "files": [f.to_dict() for f in self.files],
            "missing": self.missing,
            "warnings": self.warnings,
        }


def read_manifest(
    zones: BlobZones, upload_prefix: str, *, max_bytes: int, etag: str | None = None
) -> tuple[Manifest, str]:
    """Read and validate ``<prefix>/manifest.json`` (size cap before download); (manifest, etag)."""
    prefix = check_relative_path(upload_prefix, field="upload_prefix")
    path = join_path(prefix, MANIFEST_NAME)
    blob = zones.read_bytes(Zone.LANDING, path, max_bytes=max_bytes)
    if etag is not None and blob.etag != etag:
        # Not the input's fault: a re-upload (or an uploader's retry) wrote it again. The run
        # validates the new version from scratch (orchestrators/ingest.py).
        raise EtagMismatchError(
            f"landing/{path}: manifest changed since it was validated (etag {etag}, now "
            f"{blob.etag})"
        )
    return parse_manifest(blob.data, source=f"landing/{path}", max_bytes=max_bytes), blob.etag


def check_upload(
    zones: BlobZones,
    upload_prefix: str,
    *,
    max_manifest_bytes: int,
    unlisted: UnlistedFilePolicy,
) -> UploadCheck:
    """Compare the manifest with what is in landing; missing files are reported, not errors."""
    manifest, manifest_etag = read_manifest(zones, upload_prefix, max_bytes=max_manifest_bytes)
    source = f"landing/{upload_prefix}/{MANIFEST_NAME}"
    present = {
        info.path.removeprefix(upload_prefix + "/"): info
        for info in zones.list_blobs(Zone.LANDING, upload_prefix)
    }
    files: list[UploadFile] = []
    missing: list[str] = []
    for index, item in enumerate(manifest.files):
        info = present.get(item.path)
        if info is None:
            missing.append(item.path)
            continue
        if info.size != item.size:
            # A size mismatch on a present file is final: the uploader wrote other bytes.
            raise InvalidInputError(
                f"{item.path} is {info.size} bytes in landing, the manifest says {item.size}",
                source=source,
                field=f"files[{index}].size",
            )
        files.append(UploadFile(item.path, item.size, item.sha256, info.etag))
    listed = {item.path for item in manifest.files} | {MANIFEST_NAME}
    unlisted_paths = sorted(
        name for name in present if name not in listed and not name.startswith("_")
    )
    warnings = [f"unlisted file in upload: {name}" for name in unlisted_paths]
    if unlisted_paths and unlisted is UnlistedFilePolicy.FAIL:
        raise InvalidInputError(
            f"{len(unlisted_paths)} files are not in the manifest: "
            + ", ".join(unlisted_paths[:10]),
            source=source,
            field="files",
        )
    for warning in warnings:
        log.warning("%s (upload %s)", warning, upload_prefix)
    return UploadCheck(upload_prefix, manifest, manifest_etag, files, missing, warnings)
