"""Checksums: the streamed SHA-256 of the exact validated blob version against the manifest."""

from __future__ import annotations

from dataops.errors import InvalidInputError
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones
from dataops.telemetry import record_bytes

__all__ = ["ChecksumMismatchError", "verify_checksum"]


class ChecksumMismatchError(InvalidInputError):
    """The bytes in landing are not the bytes the manifest describes."""


def verify_checksum(
    zones: BlobZones, upload_prefix: str, path: str, *, etag: str, sha256: str, size: int
) -> str:
    """Hash ``landing/<prefix>/<path>`` pinned to ``etag``; raise ChecksumMismatchError if off."""
    blob_path = join_path(upload_prefix, path)
    digest = zones.sha256(Zone.LANDING, blob_path, etag=etag)
    if digest.size != size or digest.sha256 != sha256:
        raise ChecksumMismatchError(
            f"SHA-256 {digest.sha256} ({digest.size} bytes) does not match the manifest's "
            f"{sha256} ({size} bytes)",
            source=f"landing/{blob_path}",
            field="sha256",
        )
    record_bytes("validated", digest.size)
    return digest.sha256
