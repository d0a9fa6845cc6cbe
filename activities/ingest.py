"""Ingest activities: validate the input dict, call ``dataops.ingest``, return a plain dict."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from activities.runtime import blob_zones, metadata_store, settings
from dataops import ingest

__all__ = [
    "check_upload",
    "complete",
    "copy_file",
    "delete_landing",
    "fail",
    "hash_file",
    "register",
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UploadInput(_Input):
    upload_prefix: str


class FileInput(UploadInput):
    path: str
    etag: str
    sha256: str
    size: int


class RegisterInput(UploadInput):
    manifest_etag: str
    instance_id: str
    datastream_id: str
    sources: list[str] = []


class CopyInput(FileInput):
    raw_prefix: str


class CompleteInput(_Input):
    measurement_id: str
    datastream_id: str


class DeleteInput(UploadInput):
    files: list[dict[str, Any]]
    manifest_etag: str


class FailInput(UploadInput):
    step: str
    reason: str
    details: str | None = None
    instance_id: str | None = None
    datastream_id: str | None = None


def check_upload(params: dict[str, Any]) -> dict[str, Any]:
    """Manifest valid and every listed file present with its size (missing ones listed)."""
    args = UploadInput.model_validate(params)
    current = settings()
    return ingest.check_upload(
        blob_zones(),
        args.upload_prefix,
        max_manifest_bytes=current.manifest_max_bytes,
        unlisted=current.unlisted_files,
    ).to_dict()


def hash_file(params: dict[str, Any]) -> dict[str, Any]:
    """Streamed SHA-256 of the validated blob version, compared with the manifest."""
    args = FileInput.model_validate(params)
    digest = ingest.verify_checksum(
        blob_zones(),
        args.upload_prefix,
        args.path,
        etag=args.etag,
        sha256=args.sha256,
        size=args.size,
    )
    return {"path": args.path, "sha256": digest}


def register(params: dict[str, Any]) -> dict[str, Any]:
    """Measurement (idempotent by content) and RAW datastream in state COPYING."""
    args = RegisterInput.model_validate(params)
    return ingest.register_upload(
        blob_zones(),
        metadata_store(),
        upload_prefix=args.upload_prefix,
        manifest_etag=args.manifest_etag,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
        max_manifest_bytes=settings().manifest_max_bytes,
        sources=args.sources,
    ).to_dict()


def copy_file(params: dict[str, Any]) -> dict[str, Any]:
    """Verified copy of one file to raw and archive, guarded by its validated etag."""
    args = CopyInput.model_validate(params)
    return ingest.copy_to_raw_and_archive(
        blob_zones(),
        upload_prefix=args.upload_prefix,
        path=args.path,
        etag=args.etag,
        sha256=args.sha256,
        raw_prefix=args.raw_prefix,
    )


def complete(params: dict[str, Any]) -> dict[str, Any]:
    """File records attached, RAW datastream COMPLETED, measurement INGESTED."""
    args = CompleteInput.model_validate(params)
    return dict(
        ingest.complete_raw(
            metadata_store(), measurement_id=args.measurement_id, datastream_id=args.datastream_id
        )
    )


def delete_landing(params: dict[str, Any]) -> dict[str, Any]:
    """Delete the verified upload from landing, the manifest last."""
    args = DeleteInput.model_validate(params)
    return dict(
        ingest.delete_from_landing(
            blob_zones(),
            upload_prefix=args.upload_prefix,
            files=args.files,
            manifest_etag=args.manifest_etag,
        )
    )


def fail(params: dict[str, Any]) -> dict[str, Any]:
    """Upload to the error zone with ``_error.json``; its datastream FAILED."""
    args = FailInput.model_validate(params)
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
