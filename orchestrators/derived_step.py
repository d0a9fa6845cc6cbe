"""The orchestrator of every change-feed step: prepare a datastream, run it, or mark it FAILED.

``synchronize`` (EXTRACTED -> SYNCHRONIZED, docs/synchronization.md), ``enrich``
(SYNCHRONIZED -> ENRICHED, docs/enrichment.md) and ``detect_scenes`` (SYNCHRONIZED or
ENRICHED -> SCENES, docs/scenes.md) differ only in their contracts
(``dataops.activity_contracts.steps``: prepare the output datastream, run, fail, and the stage
label while running); ``function_app/downstream.py`` registers this orchestrator once per
step. Each is started by the datastreams change feed with an instance id derived from its
source datastream, so redelivered changes start it once. Deterministic: only context calls.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts.steps import PrepareInput, RunInput, StepContracts
from orchestrators.calls import call, report_completed, report_failure

__all__ = ["StepFailedError", "derived_step"]


class StepFailedError(Exception):
    """Raised after the datastream was marked FAILED, so the instance ends Failed too."""


def derived_step(
    context: df.DurableOrchestrationContext, *, step: StepContracts
) -> Generator[Any, Any, dict[str, Any]]:
    """Prepare ``step``'s datastream, run it, or mark it FAILED and raise StepFailedError."""
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
        yield from call(
            context,
            step.prepare,
            PrepareInput(
                source_datastream_id=params["source_datastream_id"],
                datastream_id=datastream_id,
                instance_id=context.instance_id,
            ),
        )
        status["stage"] = step.running_stage
        context.set_custom_status(dict(status))
        result = yield from call(context, step.run, RunInput(datastream_id=datastream_id))
    except Exception as err:
        reason = yield from report_failure(
            context, err, step.fail, status, datastream_id=datastream_id
        )
        raise StepFailedError(f"{step.step} failed: {reason}") from err
    return report_completed(context, status, result)
