"""Orchestrator ``extract``: RAW datastream -> batch jobs per recording -> EXTRACTED datastream.

Deterministic: only context calls, no I/O, clock or environment. The batch backend runs the
work; this only submits (through ``extract_prepare``), waits for the backend's
``batch_job_done`` event or a durable timer that backs off from 5 s to 60 s (whichever comes
first; the event only says "poll now", polling decides), and records the result or the failure.
See docs/extraction.md and docs/batch.md.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts import extraction as contracts
from dataops.batch.notify import JOB_DONE_EVENT
from dataops.errors import first_line
from orchestrators.calls import call

__all__ = ["ExtractionFailedError", "extract_orchestrator", "next_poll_seconds"]

POLL_FIRST_SECONDS = 5
POLL_MAX_SECONDS = 60
DEADLINE_MINUTES_DEFAULT = 360


class ExtractionFailedError(Exception):
    """Raised at the end of a failed run so the instance ends Failed (after the datastream did)."""


def next_poll_seconds(current: int) -> int:
    """Double the wait between polls, up to a minute: short jobs finish fast, long ones cost
    few replays."""
    return min(current * 2, POLL_MAX_SECONDS)


def extract_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Extract every recording of one RAW datastream into a new EXTRACTED datastream."""
    params: dict[str, Any] = context.get_input() or {}
    # A rerun passes the id it announced; otherwise new_uuid is replay-safe, so a retried
    # prepare activity finds the datastream (and the jobs) it already made.
    datastream_id = str(params.get("datastream_id") or context.new_uuid())
    status: dict[str, Any] = {
        "stage": "preparing",
        "measurement_id": params["measurement_id"],
        "raw_datastream_id": params["raw_datastream_id"],
        "datastream_id": datastream_id,
        "tasks_done": 0,
        "tasks_total": 0,
        "failed": 0,
    }
    context.set_custom_status(dict(status))
    jobs: list[dict[str, Any]] = []
    try:
        prepared = yield from call(
            context,
            contracts.PREPARE,
            contracts.PrepareInput(
                measurement_id=params["measurement_id"],
                raw_datastream_id=params["raw_datastream_id"],
                datastream_id=datastream_id,
                instance_id=context.instance_id,
            ),
        )
        jobs = prepared.jobs
        minutes = int(params.get("deadline_minutes") or DEADLINE_MINUTES_DEFAULT)
        yield from _wait_for_jobs(context, jobs, status, timedelta(minutes=minutes))
        _publish(context, status, stage="recording")
        result = yield from call(
            context, contracts.RECORD, contracts.JobsInput(datastream_id=datastream_id, jobs=jobs)
        )
        _publish(context, status, stage="completed")
        recorded = result.model_dump(mode="json", exclude_unset=True)
        return {**recorded, "recordings": len(jobs), "status": "Completed"}
    except Exception as err:
        reason = err.reason if isinstance(err, _JobsFailedError) else first_line(err, limit=500)
        _publish(context, status, stage="failed")
        failure = yield from call(
            context,
            contracts.FAIL,
            contracts.FailInput(datastream_id=datastream_id, jobs=jobs, reason=reason),
        )
        _publish(context, status, stage="failed", reason=failure.reason[:1000])
        raise ExtractionFailedError(f"extraction failed: {failure.reason}") from err


class _JobsFailedError(Exception):
    """Jobs failed or ran out of time: handled like any other failure, with this reason."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason or "batch jobs failed")
        self.reason = reason


def _wait_for_jobs(
    context: df.DurableOrchestrationContext,
    jobs: list[dict[str, Any]],
    status: dict[str, Any],
    deadline_after: timedelta,
) -> Generator[Any, Any, dict[str, Any]]:
    """Poll until every job settled; _JobsFailedError if one failed or the deadline passed."""
    deadline = context.current_utc_datetime + deadline_after
    interval = POLL_FIRST_SECONDS
    job_ids = [job["job_id"] for job in jobs]
    while True:
        summary = yield from call(context, contracts.POLL, contracts.PollInput(job_ids=job_ids))
        _publish(
            context,
            status,
            stage="extracting",
            tasks_done=summary.tasks_done,
            tasks_total=summary.tasks_total,
            failed=len(summary.failed),
        )
        if summary.settled:
            if summary.failed:
                # extract_fail names the failed tasks, exit codes and logs from the backend.
                raise _JobsFailedError(None)
            return summary.model_dump(mode="json", exclude_unset=True)
        now = context.current_utc_datetime
        if now >= deadline:
            raise _JobsFailedError(f"deadline of {deadline_after} passed")
        # A job's end raises JOB_DONE_EVENT: the wait ends at once and the loop polls. Events
        # raised while the poll ran are buffered, so none is missed; a lost one costs at most
        # one timer interval.
        timer = context.create_timer(min(now + timedelta(seconds=interval), deadline))
        winner = yield context.task_any([context.wait_for_external_event(JOB_DONE_EVENT), timer])
        if winner is not timer and not timer.is_completed:
            # Both may have completed in the same replay batch: only an open timer is cancelled.
            timer.cancel()
        interval = next_poll_seconds(interval)


def _publish(
    context: df.DurableOrchestrationContext, status: dict[str, Any], **changes: Any
) -> None:
    status.update(changes)
    context.set_custom_status(dict(status))
