"""Contracts of the ``extract`` orchestration's activities (served by ``activities.extraction``)."""

from __future__ import annotations

from typing import Any

from dataops.activity_contracts.base import ActivityContract, ActivityInput, ActivityOutput

__all__ = [
    "FAIL",
    "POLL",
    "PREPARE",
    "RECORD",
    "FailInput",
    "FailOutput",
    "JobsInput",
    "PollInput",
    "PollOutput",
    "PrepareInput",
    "PrepareOutput",
]


class PrepareInput(ActivityInput):
    measurement_id: str
    raw_datastream_id: str
    datastream_id: str
    instance_id: str


class PrepareOutput(ActivityOutput):
    # Job references as ``dataops.extraction.JobRef.to_dict`` writes them.
    jobs: list[dict[str, Any]]


class PollInput(ActivityInput):
    job_ids: list[str]


class PollOutput(ActivityOutput):
    settled: bool
    tasks_done: int
    tasks_total: int
    failed: list[Any]


class JobsInput(ActivityInput):
    datastream_id: str
    jobs: list[dict[str, Any]]


class FailInput(JobsInput):
    reason: str | None = None


class FailOutput(ActivityOutput):
    reason: str


PREPARE = ActivityContract("extract_prepare", PrepareInput, PrepareOutput)
POLL = ActivityContract("extract_poll", PollInput, PollOutput)
RECORD = ActivityContract("extract_record", JobsInput, ActivityOutput)
FAIL = ActivityContract("extract_fail", FailInput, FailOutput)
