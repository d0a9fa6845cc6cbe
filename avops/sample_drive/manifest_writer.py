"""``manifest.json``: hashes every listed file, writes the manifest last, validates it back."""

from __future__ import annotations

import hashlib
from pathlib import Path

from avops.sample_drive.route import Drive
from dataops.manifest import parse_manifest
from dataops.models import Manifest
from dataops.models.manifest import MANIFEST_NAME, FileFormat, ManifestFile

__all__ = ["file_sha256", "write_manifest"]

_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(
    out_dir: Path,
    drive: Drive,
    files: list[tuple[str, FileFormat]],
    *,
    vehicle_id: str,
    tags: list[str],
) -> Manifest:
    """Write ``out_dir/manifest.json`` for ``files`` (relative paths) and return it parsed back."""
    listed = [
        ManifestFile(
            path=rel,
            format=fmt,
            size=(out_dir / rel).stat().st_size,
            sha256=file_sha256(out_dir / rel),
        )
        for rel, fmt in files
    ]
    manifest = Manifest(
        schema_version="1.0",
        vehicle_id=vehicle_id,
        recording_start=drive.start,
        recording_end=drive.time_of(drive.duration),
        files=listed,
        tags=tags,
        project="avops-sample",
        driver="synthetic",
        # Sensors run at their own rates (camera 10/5 Hz, IMU 100 Hz, ...): aligning them to the
        # camera frames is the pipeline's job, as for most fleet loggers.
        logger_synchronized=False,
    )
    data = (manifest.model_dump_json(indent=2, exclude_none=True) + "\n").encode()
    # Parse it back with the ingest's own parser: the generator must never emit a manifest that
    # ingest would reject.
    parsed = parse_manifest(data, source=MANIFEST_NAME)
    (out_dir / MANIFEST_NAME).write_bytes(data)
    return parsed
