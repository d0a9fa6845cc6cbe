"""Plain results of storage operations (frozen dataclasses, easy to turn into JSON dicts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "SHA256_METADATA_KEY",
    "BlobDigest",
    "BlobInfo",
    "CopyResult",
    "MoveResult",
    "ProgressCallback",
    "SmallBlob",
    "UploadResult",
]

# Blob metadata key under which uploads and copies record the content's SHA-256 (hex).
SHA256_METADATA_KEY = "sha256"

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes done so far (cumulative over a whole directory)."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """One blob as listed: path inside the zone, size, etag and what the service knows of it."""

    path: str
    size: int
    etag: str
    last_modified: datetime
    content_md5: bytes | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        """The SHA-256 recorded in metadata at upload or copy time, if any (not re-checked)."""
        return self.metadata.get(SHA256_METADATA_KEY)


@dataclass(frozen=True, slots=True)
class BlobDigest:
    """SHA-256 and size of exactly the blob version with ``etag``."""

    sha256: str
    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class CopyResult:
    """A finished, verified server-side copy; ``verified_by`` lists the checks that passed."""

    source_etag: str
    destination_etag: str
    size: int
    verified_by: tuple[str, ...]
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class UploadResult:
    """One uploaded file: where it went, its etag, size and SHA-256."""

    path: str
    etag: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class SmallBlob:
    """A small blob read whole into memory, with the etag of the version read."""

    data: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class MoveResult:
    """A prefix moved to the error zone: the blobs moved and the ``_error.json`` path."""

    marker_path: str
    moved: tuple[str, ...]
