"""Streamed uploads: one chunk in memory at a time, SHA-256 and MD5 computed on the way."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import uuid
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.storage.blob import BlobBlock, ContentSettings

from dataops.errors import InvalidInputError
from dataops.storage.models import SHA256_METADATA_KEY, ProgressCallback, UploadResult

if TYPE_CHECKING:
    from pathlib import Path

    from azure.storage.blob import BlobClient

__all__ = ["guess_content_type", "upload_file_streamed"]

_DEFAULT_CONTENT_TYPE = "application/octet-stream"


# Python 3.11's mimetypes table lacks YAML (ROS 2 bag metadata.yaml).
_KNOWN_TYPES = {
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".json": "application/json",
}


def guess_content_type(name: str) -> str:
    """Content type from the file name; bags, MCAP, MDF4 and TDMS fall back to octet-stream."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix in _KNOWN_TYPES:
        return _KNOWN_TYPES[suffix]
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    return guessed or _DEFAULT_CONTENT_TYPE


def _block_id(upload_id: str, index: int) -> str:
    # All ids of one blob must have the same length; a per-upload id keeps two concurrent
    # uploads to the same name from committing each other's blocks.
    return base64.b64encode(f"{upload_id}-{index:08d}".encode()).decode()


def upload_file_streamed(
    blob: BlobClient,
    local_path: Path,
    *,
    chunk_size: int,
    content_type: str | None = None,
    write_sha256: bool = True,
    overwrite: bool = True,
    progress: ProgressCallback | None = None,
    done_before: int = 0,
) -> UploadResult:
    """Upload one local file; files above ``chunk_size`` go as staged blocks, then one commit.

    Content-MD5 is set on the committed blob (the service only computes it for single puts) and
    ``sha256`` metadata when ``write_sha256``, so later copies can be verified without a re-read.
    ``progress`` gets ``done_before`` plus the bytes of this file sent so far.
    """
    try:
        expected_size = local_path.stat().st_size
    except OSError as err:
        raise InvalidInputError(f"cannot read: {err.strerror}", source=str(local_path)) from err
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)  # integrity check the service understands
    size = 0
    block_ids: list[BlobBlock] = []
    upload_id = uuid.uuid4().hex
    single = b""
    with local_path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
            if expected_size <= chunk_size:
                # Small file: one Put Blob instead of stage + commit.
                single += chunk
                continue
            block_ids.append(BlobBlock(block_id=_block_id(upload_id, len(block_ids))))
            blob.stage_block(block_ids[-1].id, chunk, length=len(chunk))
            if progress is not None:
                progress(done_before + size)
    if size != expected_size:
        raise InvalidInputError(
            f"file changed while uploading ({expected_size} bytes before, {size} read)",
            source=str(local_path),
        )
    digest = sha256.hexdigest()
    settings = ContentSettings(
        content_type=content_type or guess_content_type(local_path.name),
        content_md5=bytearray(md5.digest()),
    )
    metadata = {SHA256_METADATA_KEY: digest} if write_sha256 else None
    if block_ids:
        # The SDK forwards an explicit etag=None to the HTTP layer, so only pass it when set.
        conditions: dict[str, Any] = {}
        if not overwrite:
            conditions = {"match_condition": MatchConditions.IfMissing}
        response = blob.commit_block_list(
            block_ids, content_settings=settings, metadata=metadata, **conditions
        )
    else:
        response = blob.upload_blob(
            single, length=size, overwrite=overwrite, content_settings=settings, metadata=metadata
        )
    if progress is not None:
        progress(done_before + size)
    return UploadResult(path=blob.blob_name, etag=str(response["etag"]), size=size, sha256=digest)
