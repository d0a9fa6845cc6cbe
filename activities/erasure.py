"""Erasure activities: typed erasure id -> ``dataops.erasure.steps``."""

from __future__ import annotations

from typing import Any

from activities.runtime import blob_zones, metadata_store, settings
from activities.serving import served
from dataops.activity_contracts.erasure import (
    ERASE_BLOBS,
    ERASE_FAIL,
    ERASE_FINISH,
    ERASE_POOL,
    ERASE_STORE,
    ErasureFailInput,
    ErasureInput,
)
from dataops.erasure import steps
from dataops.erasure.batch_jobs import job_eraser

__all__ = ["blobs", "batch_jobs", "documents", "fail", "finish"]


@served(ERASE_BLOBS)
def blobs(args: ErasureInput) -> dict[str, Any]:
    """Every folder of the target in every zone, and every export holding it."""
    return steps.erase_blob_step(blob_zones(), metadata_store(), args.erasure_id)


@served(ERASE_POOL)
def batch_jobs(args: ErasureInput) -> dict[str, Any]:
    """The target's Azure Batch jobs, or the local pool's jobs, task logs and work folders."""
    current = settings()
    with job_eraser(current) as eraser:
        return steps.erase_pool_step(
            blob_zones(), metadata_store(), current, args.erasure_id, eraser
        )


@served(ERASE_STORE)
def documents(args: ErasureInput) -> dict[str, Any]:
    """Store documents and change log of the target; the store's file is scrubbed."""
    return steps.erase_store_step(blob_zones(), metadata_store(), args.erasure_id)


@served(ERASE_FINISH)
def finish(args: ErasureInput) -> dict[str, Any]:
    """The record completed, the pending target deleted; returns the record's counts."""
    return steps.finish_step(blob_zones(), args.erasure_id)


@served(ERASE_FAIL)
def fail(args: ErasureFailInput) -> dict[str, Any]:
    """The record failed with the reason; the pending target stays for a resume."""
    steps.fail_step(blob_zones(), args.erasure_id, args.reason)
    return {}
