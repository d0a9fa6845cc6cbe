"""Ingest steps: check an upload, verify checksums, register, copy, complete, clean up or fail.

Each step is idempotent (activities run at least once) and takes explicit zones and store.
"""

from __future__ import annotations

from dataops.ingest.check import UploadCheck, UploadFile, check_upload, read_manifest
from dataops.ingest.copy_files import copy_to_raw_and_archive, delete_from_landing
from dataops.ingest.failure import discard_upload, fail_upload
from dataops.ingest.register import Registration, complete_raw, register_upload
from dataops.ingest.verify import ChecksumMismatchError, verify_checksum

__all__ = [
    "ChecksumMismatchError",
    "Registration",
    "UploadCheck",
    "UploadFile",
    "check_upload",
    "complete_raw",
    "copy_to_raw_and_archive",
    "delete_from_landing",
    "discard_upload",
    "fail_upload",
    "read_manifest",
    "register_upload",
    "verify_checksum",
]
