"""Orchestrator ``synchronize``: EXTRACTED datastream -> SYNCHRONIZED datastream (curated zone).

Deterministic: only context calls. Started by the datastreams change feed with an instance id
derived from the EXTRACTED datastream, so redelivered changes start it once. See
docs/synchronization.md.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

__all__ = ["SynchronizationFailedError", "synchronize_orchestrator"]

# Store and blob calls retry transient failures; terminal ones fail fast within 3 attempts.
IO_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=3)


class SynchronizationFailedError(Exception):
    """Raised after the datastream was marked FAILED, so the instance ends Failed too."""


def synchronize_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Prepare the SYNCHRONIZED datastream, run the alignment, or mark it FAILED."""
    params: dict[str, Any] = context.get_input() or {}
    # new_uuid is replay-safe: a retried prepare finds the datastream it already made.
    datastream_id = str(context.new_uuid())
    status: dict[str, Any] = {
        "stage": "preparing",
        "measurement_id": params.get("measurement_id"),
        "source_datastream_id": params.get("source_datastream_id"),
        "datastream_id": datastream_id,
    }
    context.set_custom_status(dict(status))
    try:
        yield context.call_activity_with_retry(
            "synchronize_prepare",
            IO_RETRY,
            {
                "source_datastream_id": params["source_datastream_id"],
                "datastream_id": datastream_id,
                "instance_id": context.instance_id,
            },
        )
        status["stage"] = "synchronizing"
        context.set_custom_status(dict(status))
        result: dict[str, Any] = yield context.call_activity_with_retry(
            "synchronize_run", IO_RETRY, {"datastream_id": datastream_id}
        )
    except Exception as err:
        reason = (str(err).strip() or type(err).__name__).splitlines()[0][:1000]
        status.update(stage="failed", reason=reason)
        context.set_custom_status(dict(status))
        yield context.call_activity_with_retry(
            "synchronize_fail", IO_RETRY, {"datastream_id": datastream_id, "reason": reason}
        )
        raise SynchronizationFailedError(f"synchronization failed: {reason}") from err
    status["stage"] = "completed"
    context.set_custom_status(dict(status))
    return {**result, "status": "Completed"}
