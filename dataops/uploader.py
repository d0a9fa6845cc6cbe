"""Upload a local measurement to landing: every listed file first, ``manifest.json`` last.

The manifest is the commit marker: Event Grid fires on it, so it must never precede its files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataops.errors import InvalidInputError
from dataops.models import MANIFEST_NAME, Manifest
from dataops.paths import Zone, check_relative_path, join_path
from dataops.storage import BlobZones

__all__ = ["UploadSummary", "upload_measurement"]


@dataclass(frozen=True)
class UploadSummary:
    upload_prefix: str
    files: int
    bytes: int
    manifest_path: str


def upload_measurement(
    zones: BlobZones,
    root: Path,
    manifest: Manifest,
    *,
    upload_prefix: str,
    progress: Callable[[int], None] | None = None,
) -> UploadSummary:
    """Stream each listed file below ``root`` to ``landing/<prefix>/``, then the manifest.

    Each local file's size is checked against the manifest before its first byte is sent, so a
    file that changed since the manifest was written never reaches landing.
    """
    prefix = check_relative_path(upload_prefix, field="upload_prefix")
    for item in manifest.files:
        local = root / item.path
        if not local.is_file():
            raise InvalidInputError("listed file is missing", source=str(local), field="path")
        if local.stat().st_size != item.size:
            raise InvalidInputError(
                f"is {local.stat().st_size} bytes, the manifest says {item.size}",
                source=str(local),
                field="size",
            )
    done = 0
    for item in manifest.files:
        result = zones.upload_file(
            Zone.LANDING,
            join_path(prefix, item.path),
            root / item.path,
            progress=None if progress is None else _offset(progress, done),
        )
        if result.sha256 != item.sha256:
            raise InvalidInputError(
                f"changed while uploading: SHA-256 {result.sha256}, manifest {item.sha256}",
                source=str(root / item.path),
                field="sha256",
            )
        done += item.size
    body = manifest.model_dump_json(indent=2, exclude_none=True).encode()
    manifest_path = join_path(prefix, MANIFEST_NAME)
    zones.write_bytes(Zone.LANDING, manifest_path, body)
    return UploadSummary(prefix, len(manifest.files), done, manifest_path)


def _offset(progress: Callable[[int], None], base: int) -> Callable[[int], None]:
    return lambda done: progress(base + done)
