"""Extraction activities: typed input (``dataops.activity_contracts.extraction``) ->
``dataops.extraction``."""

from __future__ import annotations

from typing import Any

from activities.erased import refuse_erased_measurement
from activities.runtime import batch_backend, blob_zones, metadata_store
from activities.serving import served
from dataops import extraction
from dataops.activity_contracts import extraction as contracts
from dataops.extraction import JobRef

__all__ = ["fail", "poll", "prepare", "record"]


@served(contracts.PREPARE)
def prepare(args: contracts.PrepareInput) -> dict[str, Any]:
    """EXTRACTED datastream PROCESSING; one job per recording submitted (idempotent)."""
    refuse_erased_measurement(args.measurement_id)
    return extraction.prepare_extraction(
        metadata_store(),
        batch_backend(),
        measurement_id=args.measurement_id,
        raw_datastream_id=args.raw_datastream_id,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
    )


@served(contracts.POLL)
def poll(args: contracts.PollInput) -> dict[str, Any]:
    """Settled or not, tasks done / total, failed jobs."""
    return extraction.poll_jobs(batch_backend(), args.job_ids)


@served(contracts.FAIL)
def fail(args: contracts.FailInput) -> dict[str, Any]:
    """Cancel what still runs; EXTRACTED datastream FAILED with the failed tasks named."""
    return extraction.fail_extraction(
        metadata_store(),
        batch_backend(),
        blob_zones(),
        datastream_id=args.datastream_id,
        jobs=[JobRef.from_dict(job) for job in args.jobs],
        reason=args.reason,
    )


@served(contracts.RECORD)
def record(args: contracts.JobsInput) -> dict[str, Any]:
    """File records and stats from the task manifests; EXTRACTED datastream COMPLETED."""
    return extraction.record_extraction(
        blob_zones(),
        metadata_store(),
        datastream_id=args.datastream_id,
        jobs=[JobRef.from_dict(job) for job in args.jobs],
    )
