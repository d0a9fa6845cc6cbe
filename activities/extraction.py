"""Extraction activities: validate the input dict, call ``dataops.extraction``, return a dict."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from activities.runtime import batch_backend, blob_zones, metadata_store
from dataops import extraction
from dataops.extraction import JobRef

__all__ = ["fail", "poll", "prepare", "record"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PrepareInput(_Input):
    measurement_id: str
    raw_datastream_id: str
    datastream_id: str
    instance_id: str


class PollInput(_Input):
    job_ids: list[str]


class JobsInput(_Input):
    datastream_id: str
    jobs: list[dict[str, Any]]


class FailInput(JobsInput):
    reason: str | None = None


def prepare(params: dict[str, Any]) -> dict[str, Any]:
    """EXTRACTED datastream PROCESSING; one job per recording submitted (idempotent)."""
    args = PrepareInput.model_validate(params)
    return extraction.prepare_extraction(
        metadata_store(),
        batch_backend(),
        measurement_id=args.measurement_id,
        raw_datastream_id=args.raw_datastream_id,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
    )


def poll(params: dict[str, Any]) -> dict[str, Any]:
    """Settled or not, tasks done / total, failed jobs."""
    args = PollInput.model_validate(params)
    return extraction.poll_jobs(batch_backend(), args.job_ids)


def fail(params: dict[str, Any]) -> dict[str, Any]:
    """Cancel what still runs; EXTRACTED datastream FAILED with the failed tasks named."""
    args = FailInput.model_validate(params)
    return extraction.fail_extraction(
        metadata_store(),
        batch_backend(),
        datastream_id=args.datastream_id,
        jobs=[JobRef.from_dict(job) for job in args.jobs],
        reason=args.reason,
    )


def record(params: dict[str, Any]) -> dict[str, Any]:
    """File records and stats from the task manifests; EXTRACTED datastream COMPLETED."""
    args = JobsInput.model_validate(params)
    return extraction.record_extraction(
        blob_zones(),
        metadata_store(),
        datastream_id=args.datastream_id,
        jobs=[JobRef.from_dict(job) for job in args.jobs],
    )
