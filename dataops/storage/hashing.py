"""Streamed SHA-256 of a blob with bounded memory, pinned to one blob version (etag)."""

from __future__ import annotations

import hashlib
from typing import IO, TYPE_CHECKING, Any, cast

from azure.core import MatchConditions

from dataops.errors import RetryableError
from dataops.storage.models import BlobDigest

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient

__all__ = ["sha256_of_blob"]


class _HashSink:
    """A write-only stream that feeds a hash and keeps nothing, so memory stays at one chunk."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return len(data)

    def seekable(self) -> bool:
        return False


def sha256_of_blob(blob: BlobClient, *, etag: str | None = None) -> BlobDigest:
    """Hash ``blob`` chunk by chunk (chunk size set on its client); every request is if-match.

    Without ``etag`` the first response fixes the version; the SDK then sends if-match with that
    etag on each further range request, so an overwrite mid-read fails the read (412) instead of
    hashing a mix of two versions. With ``etag`` even the first request must match it.
    Callers wrap this in ``translate_azure_errors``.
    """
    # One connection: parallel ranges would need a seekable sink and several chunks in memory.
    # decompress=False: hash the stored bytes even if the uploader set Content-Encoding: gzip.
    # The SDK forwards an explicit etag=None to the HTTP layer, so only pass it when set.
    conditions: dict[str, Any] = {}
    if etag is not None:
        conditions = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
    downloader = blob.download_blob(max_concurrency=1, decompress=False, **conditions)
    sink = _HashSink()
    downloader.readinto(cast(IO[bytes], sink))
    read_etag = str(downloader.properties.etag)
    if sink.size != downloader.size:
        # The service promised `size` bytes for this etag: a short read is a broken transfer.
        raise RetryableError(f"{blob.blob_name}: read {sink.size} of {downloader.size} bytes")
    return BlobDigest(sha256=sink.hasher.hexdigest(), size=sink.size, etag=read_etag)
