"""The shape every change-feed step shares: prepare a datastream, run the step, or mark it FAILED.

``synchronize``, ``enrich`` and ``detect_scenes`` differ only in their activity names and stage
labels: activities ``<step>_prepare`` (create the output datastream, PROCESSING, idempotent by
id), ``<step>_run`` (compute, write, COMPLETED) and ``<step>_fail`` (FAILED with the reason).
Deterministic: only context calls.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

__all__ = ["IO_RETRY", "StepFailedError", "derived_step", "first_line"]

# Store and blob calls retry transient failures; terminal ones fail fast within 3 attempts.
IO_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=3)


class StepFailedError(Exception):
    """Raised after the datastream was marked FAILED, so the instance ends Failed too."""


def first_line(err: BaseException, limit: int = 1000) -> str:
    """The first line of an error's message (the type name when it has none)."""
    return (str(err).strip() or type(err).__name__).splitlines()[0][:limit]


def derived_step(
    context: df.DurableOrchestrationContext, *, step: str, running_stage: str
) -> Generator[Any, Any, dict[str, Any]]:
    """Prepare ``<step>``'s datastream, run it, or mark it FAILED and raise StepFailedError."""
    params: dict[str, Any] = context.get_input() or {}
    # A rerun names its output datastream up front (so its starter can report it); else
    # new_uuid, which is replay-safe: a retried prepare finds the datastream it already made.
    datastream_id = str(params.get("datastream_id") or context.new_uuid())
    status: dict[str, Any] = {
        "stage": "preparing",
        "measurement_id": params.get("measurement_id"),
        "source_datastream_id": params.get("source_datastream_id"),
        "datastream_id": datastream_id,
    }
    context.set_custom_status(dict(status))
    try:
        yield context.call_activity_with_retry(
            f"{step}_prepare",
            IO_RETRY,
            {
                "source_datastream_id": params["source_datastream_id"],
                "datastream_id": datastream_id,
                "instance_id": context.instance_id,
            },
        )
        status["stage"] = running_stage
        context.set_custom_status(dict(status))
        result: dict[str, Any] = yield context.call_activity_with_retry(
            f"{step}_run", IO_RETRY, {"datastream_id": datastream_id}
        )
    except Exception as err:
        reason = first_line(err)
        status.update(stage="failed", reason=reason)
        context.set_custom_status(dict(status))
        yield context.call_activity_with_retry(
            f"{step}_fail", IO_RETRY, {"datastream_id": datastream_id, "reason": reason}
        )
        raise StepFailedError(f"{step} failed: {reason}") from err
    status["stage"] = "completed"
    context.set_custom_status(dict(status))
    return {**result, "status": "Completed"}
