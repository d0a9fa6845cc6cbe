"""Copies between zones, guarded by the source etag and verified afterwards.

Two paths. :func:`copy_blob_verified` asks the storage service to copy (Copy Blob with a
read SAS on the source): no bytes pass through the app, but the destination account's copy
engine fetches the source over the source account's *public* endpoint, which an account that
denies public access (private endpoint only, or a firewall) refuses. :func:`copy_blob_streamed`
reads the source through the app's own network path (the private endpoint) and stages it into
the destination block by block: one download range in memory at a time, hashed on the way.
``BlobZones.copy`` picks the path (``ZoneClients.server_side_copy``).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import TYPE_CHECKING

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobBlock, ContentSettings

from dataops.errors import RetryableError, TerminalError
from dataops.storage.errors import CopyVerificationError
from dataops.storage.hashing import sha256_of_blob
from dataops.storage.models import SHA256_METADATA_KEY, CopyResult

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, BlobProperties

__all__ = ["copy_blob_streamed", "copy_blob_verified"]

_IF_MATCH = MatchConditions.IfNotModified


def _sha256_meta(props: BlobProperties) -> str | None:
    metadata = props.metadata or {}
    return metadata.get(SHA256_METADATA_KEY)


def _md5(props: BlobProperties) -> bytes | None:
    md5 = props.content_settings.content_md5
    return bytes(md5) if md5 else None


def _already_copied(source: BlobProperties, destination: BlobProperties) -> bool:
    """True if the destination provably holds the source content (size plus a digest)."""
    if destination.size != source.size:
        return False
    if destination.copy.status not in (None, "success"):
        return False
    src_md5, dst_md5 = _md5(source), _md5(destination)
    if src_md5 is not None and dst_md5 is not None:
        return src_md5 == dst_md5
    src_sha, dst_sha = _sha256_meta(source), _sha256_meta(destination)
    return src_sha is not None and src_sha == dst_sha


def _wait_for_copy(
    destination: BlobClient, copy_id: str, *, timeout_s: float, poll_interval_s: float
) -> BlobProperties:
    deadline = time.monotonic() + timeout_s
    delay = poll_interval_s
    while True:
        props = destination.get_blob_properties()
        status = props.copy.status
        if props.copy.id not in (None, copy_id):
            # Someone else started another copy onto the same destination: ours is void.
            raise TerminalError(f"{destination.blob_name}: copy {copy_id} superseded")
        if status in (None, "success"):
            return props
        if status in ("failed", "aborted"):
            raise RetryableError(
                f"{destination.blob_name}: copy {status}: {props.copy.status_description}"
            )
        if time.monotonic() >= deadline:
            destination.abort_copy(copy_id)
            raise RetryableError(f"{destination.blob_name}: copy not done after {timeout_s:.0f}s")
        time.sleep(delay)
        # Back off: a cross-account copy of a large bag can take minutes.
        delay = min(delay * 2, 5.0)


def _verify(
    source: BlobProperties,
    destination: BlobClient,
    copied: BlobProperties,
    *,
    expected_sha256: str | None,
    rehash: bool,
) -> tuple[str, ...]:
    """Compare the copy with its source; return the checks made, raise on the first mismatch."""
    name = destination.blob_name
    checks = ["size"]
    if copied.size != source.size:
        raise CopyVerificationError(f"{name}: copied {copied.size} bytes of {source.size}")
    src_md5 = _md5(source)
    if src_md5 is not None:
        checks.append("content_md5")
        if _md5(copied) != src_md5:
            raise CopyVerificationError(f"{name}: content MD5 differs from the source")
    src_sha = _sha256_meta(source) or expected_sha256
    if src_sha is not None and _sha256_meta(copied) is not None:
        checks.append("sha256_metadata")
        if _sha256_meta(copied) != src_sha:
            raise CopyVerificationError(f"{name}: sha256 metadata differs from the source")
    if rehash:
        wanted = expected_sha256 or _sha256_meta(source)
        if wanted is None:
            raise CopyVerificationError(f"{name}: rehash asked for but no expected SHA-256 known")
        digest = sha256_of_blob(destination, etag=str(copied.etag))
        checks.append("rehash")
        if digest.sha256 != wanted:
            raise CopyVerificationError(
                f"{name}: SHA-256 of the copy is {digest.sha256}, expected {wanted}"
            )
    return tuple(checks)


def _source_or_done(
    source: BlobClient,
    destination: BlobClient,
    *,
    source_etag: str,
    expected_sha256: str | None,
    rehash: bool,
) -> tuple[BlobProperties, CopyResult | None]:
    """The source's properties (still at ``source_etag``, not recording another hash than
    ``expected_sha256``), and the skipped result when ``destination`` already provably holds it
    (re-runs after a crash do not copy again)."""
    src = source.get_blob_properties(etag=source_etag, match_condition=_IF_MATCH)
    src_sha = _sha256_meta(src)
    if expected_sha256 is not None and src_sha is not None and src_sha != expected_sha256:
        raise CopyVerificationError(
            f"{source.blob_name}: source records sha256 {src_sha}, expected {expected_sha256}"
        )
    try:
        existing: BlobProperties | None = destination.get_blob_properties()
    except ResourceNotFoundError:
        existing = None
    if existing is not None and _already_copied(src, existing):
        checks = _verify(src, destination, existing, expected_sha256=expected_sha256, rehash=rehash)
        return src, CopyResult(
            source_etag=source_etag,
            destination_etag=str(existing.etag),
            size=int(existing.size),
            verified_by=checks,
            skipped=True,
        )
    return src, None


def _kept_if_verified(
    src: BlobProperties,
    destination: BlobClient,
    copied: BlobProperties,
    *,
    source_etag: str,
    expected_sha256: str | None,
    rehash: bool,
    checked_on_the_way: tuple[str, ...] = (),
) -> CopyResult:
    """The result of a finished copy that :func:`_verify` accepts; one it refuses is deleted.

    A wrong copy must not be mistaken for a good one later: exactly that version is deleted.
    """
    try:
        checks = _verify(src, destination, copied, expected_sha256=expected_sha256, rehash=rehash)
    except CopyVerificationError:
        destination.delete_blob(etag=str(copied.etag), match_condition=_IF_MATCH)
        raise
    return CopyResult(
        source_etag=source_etag,
        destination_etag=str(copied.etag),
        size=int(copied.size),
        verified_by=(*checked_on_the_way, *checks),
    )


def copy_blob_verified(
    source: BlobClient,
    source_url: str,
    destination: BlobClient,
    *,
    source_etag: str,
    expected_sha256: str | None = None,
    rehash: bool = False,
    timeout_s: float = 3600.0,
    poll_interval_s: float = 0.2,
) -> CopyResult:
    """Copy ``source`` (which must still have ``source_etag``) to ``destination`` and verify it.

    A destination that already provably holds the content is left alone (re-runs after a crash
    do not copy again). A copy that fails verification is deleted, then CopyVerificationError.
    Azure errors propagate raw; the caller translates them.
    """
    src, done = _source_or_done(
        source, destination, source_etag=source_etag, expected_sha256=expected_sha256, rehash=rehash
    )
    if done is not None:
        return done
    src_sha = _sha256_meta(src)
    # Record the validated hash on the copy when the source does not carry one yet.
    metadata = None
    if expected_sha256 is not None and src_sha is None:
        metadata = {**(src.metadata or {}), SHA256_METADATA_KEY: expected_sha256}
    started = destination.start_copy_from_url(
        source_url,
        metadata=metadata,
        source_etag=source_etag,
        source_match_condition=_IF_MATCH,
    )
    copied = _wait_for_copy(
        destination, str(started["copy_id"]), timeout_s=timeout_s, poll_interval_s=poll_interval_s
    )
    return _kept_if_verified(
        src,
        destination,
        copied,
        source_etag=source_etag,
        expected_sha256=expected_sha256,
        rehash=rehash,
    )


def _copy_block_id(copy_id: str, index: int) -> str:
    # Same length for every block of one blob (a service rule); unique per copy attempt.
    return f"{copy_id}-{index:08d}"


def copy_blob_streamed(
    source: BlobClient,
    destination: BlobClient,
    *,
    source_etag: str,
    expected_sha256: str | None = None,
    rehash: bool = False,
) -> CopyResult:
    """Copy ``source`` (still at ``source_etag``) through this process, then verify it.

    Every range is read pinned to ``source_etag`` and staged as one block with a transactional
    MD5, so memory stays at one download range (the client's ``max_chunk_get_size``) whatever
    the blob's size. The SHA-256 and MD5 of the bytes read are computed on the way: the block
    list is committed only if they match what the source records (or ``expected_sha256``), and
    the committed blob carries both, so it is verified like a server-side copy. A destination
    that already provably holds the content is left alone.
    """
    src, done = _source_or_done(
        source, destination, source_etag=source_etag, expected_sha256=expected_sha256, rehash=rehash
    )
    if done is not None:
        return done
    wanted = expected_sha256 or _sha256_meta(src)
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)  # what Content-MD5 holds
    size = 0
    blocks: list[BlobBlock] = []
    copy_id = uuid.uuid4().hex
    # One connection, ranges in order: each range is staged before the next is fetched.
    downloader = source.download_blob(
        etag=source_etag, match_condition=_IF_MATCH, max_concurrency=1, decompress=False
    )
    for chunk in downloader.chunks():
        sha256.update(chunk)
        md5.update(chunk)
        size += len(chunk)
        blocks.append(BlobBlock(block_id=_copy_block_id(copy_id, len(blocks))))
        destination.stage_block(blocks[-1].id, chunk, length=len(chunk), validate_content=True)
    name = destination.blob_name
    if size != src.size:
        raise RetryableError(f"{name}: read {size} of {src.size} bytes of the source")
    digest = sha256.hexdigest()
    if wanted is not None and digest != wanted:
        # Nothing is committed: the staged blocks are discarded by the service.
        raise CopyVerificationError(
            f"{name}: SHA-256 of the source bytes is {digest}, expected {wanted}"
        )
    src_md5 = _md5(src)
    if src_md5 is not None and src_md5 != md5.digest():
        raise CopyVerificationError(f"{name}: source bytes do not match the source's Content-MD5")
    props = src.content_settings
    settings = ContentSettings(
        content_type=props.content_type,
        content_encoding=props.content_encoding,
        content_language=props.content_language,
        content_disposition=props.content_disposition,
        cache_control=props.cache_control,
        content_md5=bytearray(md5.digest()),
    )
    metadata = {**(src.metadata or {}), SHA256_METADATA_KEY: digest}
    if blocks:
        destination.commit_block_list(blocks, content_settings=settings, metadata=metadata)
    else:
        destination.upload_blob(
            b"", length=0, overwrite=True, content_settings=settings, metadata=metadata
        )
    copied = destination.get_blob_properties()
    return _kept_if_verified(
        src,
        destination,
        copied,
        source_etag=source_etag,
        expected_sha256=digest,
        rehash=rehash,
        checked_on_the_way=("sha256_stream",),
    )
