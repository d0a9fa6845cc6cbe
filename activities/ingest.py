"""Ingest activities: typed input (``dataops.activity_contracts.ingest``) -> ``dataops.ingest``."""

from __future__ import annotations

from typing import Any

from activities.erased import refuse_erased
from activities.runtime import blob_zones, metadata_store, settings
from activities.serving import served
from dataops import ingest
from dataops.activity_contracts import ingest as contracts
from dataops.erasure.records import ErasedError

__all__ = [
    "check_upload",
    "complete",
    "copy_file",
    "delete_landing",
    "fail",
    "hash_file",
    "register",
]


@served(contracts.CHECK_UPLOAD)
def check_upload(args: contracts.UploadInput) -> dict[str, Any]:
    """Manifest valid and every listed file present with its size (missing ones listed)."""
    current = settings()
    return ingest.check_upload(
        blob_zones(),
        args.upload_prefix,
        max_manifest_bytes=current.manifest_max_bytes,
        unlisted=current.unlisted_files,
    ).to_dict()


@served(contracts.HASH_FILE)
def hash_file(args: contracts.FileInput) -> dict[str, Any]:
    """Streamed SHA-256 of the validated blob version, compared with the manifest."""
    digest = ingest.verify_checksum(
        blob_zones(),
        args.upload_prefix,
        args.path,
        etag=args.etag,
        sha256=args.sha256,
        size=args.size,
    )
    return {"path": args.path, "sha256": digest}


@served(contracts.REGISTER)
def register(args: contracts.RegisterInput) -> dict[str, Any]:
    """Measurement (idempotent by content) and RAW datastream in state COPYING."""
    return ingest.register_upload(
        blob_zones(),
        metadata_store(),
        upload_prefix=args.upload_prefix,
        manifest_etag=args.manifest_etag,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
        max_manifest_bytes=settings().manifest_max_bytes,
        sources=args.sources,
        refuse=refuse_erased,
    ).to_dict()


@served(contracts.COPY_FILE)
def copy_file(args: contracts.CopyInput) -> dict[str, Any]:
    """Verified copy of one file to raw and archive, guarded by its validated etag."""
    return ingest.copy_to_raw_and_archive(
        blob_zones(),
        upload_prefix=args.upload_prefix,
        path=args.path,
        etag=args.etag,
        sha256=args.sha256,
        raw_prefix=args.raw_prefix,
    )


@served(contracts.COMPLETE)
def complete(args: contracts.CompleteInput) -> dict[str, Any]:
    """File records attached, RAW datastream COMPLETED, measurement INGESTED."""
    return dict(
        ingest.complete_raw(
            metadata_store(), measurement_id=args.measurement_id, datastream_id=args.datastream_id
        )
    )


@served(contracts.DELETE_LANDING)
def delete_landing(args: contracts.DeleteInput) -> dict[str, Any]:
    """Delete the verified upload from landing, the manifest last."""
    return dict(
        ingest.delete_from_landing(
            blob_zones(),
            upload_prefix=args.upload_prefix,
            files=[item.model_dump() for item in args.files],
            manifest_etag=args.manifest_etag,
        )
    )


@served(contracts.FAIL)
def fail(args: contracts.FailInput) -> dict[str, Any]:
    """Upload to the error zone with ``_error.json``; its datastream FAILED.

    An upload of an erased vehicle or measurement is deleted instead: it must not be kept.
    """
    if args.reason.startswith(f"{ErasedError.__name__}:"):
        return ingest.discard_upload(blob_zones(), upload_prefix=args.upload_prefix)
    return ingest.fail_upload(
        blob_zones(),
        metadata_store(),
        upload_prefix=args.upload_prefix,
        step=args.step,
        reason=args.reason,
        details=args.details,
        instance_id=args.instance_id,
        datastream_id=args.datastream_id,
    )
