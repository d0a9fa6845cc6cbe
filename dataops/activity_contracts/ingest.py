"""Contracts of the ``ingest`` orchestration's activities (served by ``activities.ingest``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dataops.activity_contracts.base import ActivityContract, ActivityInput, ActivityOutput

__all__ = [
    "CHECK_UPLOAD",
    "COMPLETE",
    "COPY_FILE",
    "DELETE_LANDING",
    "FAIL",
    "HASH_FILE",
    "REGISTER",
    "CheckedUpload",
    "CompleteInput",
    "CopyInput",
    "CopyOutput",
    "DeleteInput",
    "FailInput",
    "FileInput",
    "FilesWave",
    "FilesWaveResult",
    "HashOutput",
    "Registration",
    "RegisterInput",
    "UploadInput",
    "UploadedFile",
]


class UploadInput(ActivityInput):
    upload_prefix: str


class UploadedFile(ActivityInput):
    """One listed file as ``check_upload`` reports it."""

    path: str
    etag: str
    sha256: str
    size: int


class FileInput(UploadInput):
    path: str
    etag: str
    sha256: str
    size: int


class CheckedUpload(ActivityOutput):
    upload_prefix: str
    manifest_etag: str
    files: list[UploadedFile]
    missing: list[str]
    warnings: list[Any] = Field(default_factory=list)


class HashOutput(ActivityOutput):
    path: str
    sha256: str


class RegisterInput(UploadInput):
    manifest_etag: str
    instance_id: str
    datastream_id: str
    sources: list[str] = Field(default_factory=list)


class Registration(ActivityOutput):
    measurement_id: str
    datastream_id: str
    raw_prefix: str


class CopyInput(FileInput):
    raw_prefix: str


class CopyOutput(ActivityOutput):
    source_changed: bool


class CompleteInput(ActivityInput):
    measurement_id: str
    datastream_id: str


class DeleteInput(UploadInput):
    files: list[UploadedFile]
    manifest_etag: str


class FailInput(UploadInput):
    step: str
    reason: str
    details: str | None = None
    instance_id: str | None = None
    datastream_id: str | None = None


class FilesWave(ActivityInput):
    """Input of the ``ingest_files`` sub-orchestration: one wave of an upload's files.

    Not an activity: the ingest orchestrator hands it to a sub-orchestration, so a large
    upload's history is split into bounded parts (``orchestrators/ingest_waves.py``).
    """

    action: Literal["hash", "copy"]
    upload_prefix: str
    files: list[UploadedFile]
    raw_prefix: str | None = None


class FilesWaveResult(ActivityOutput):
    files: int
    bytes: int
    source_changed: bool = False


CHECK_UPLOAD = ActivityContract("ingest_check_upload", UploadInput, CheckedUpload)
HASH_FILE = ActivityContract("ingest_hash_file", FileInput, HashOutput)
REGISTER = ActivityContract("ingest_register", RegisterInput, Registration)
COPY_FILE = ActivityContract("ingest_copy_file", CopyInput, CopyOutput)
COMPLETE = ActivityContract("ingest_complete", CompleteInput, ActivityOutput)
DELETE_LANDING = ActivityContract("ingest_delete_landing", DeleteInput, ActivityOutput)
FAIL = ActivityContract("ingest_fail", FailInput, ActivityOutput)
