"""Orchestrator ``clip``: write one MCAP of a window of a measurement's recordings.

Started by ``POST /api/scenes/{id}/clip`` or ``POST /api/measurements/{id}/clip`` with
``{"datastream_id": ...}``: the starter recorded the CLIP datastream and its window. The
output carries the clip's read-only link and its Foxglove link. Deterministic: context calls
only. See docs/clips.md.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts import clips as contracts
from orchestrators.calls import call, report_failure

__all__ = ["ClipFailedError", "clip_orchestrator"]


class ClipFailedError(Exception):
    """Raised after the CLIP datastream was marked FAILED, so the instance ends Failed too."""


def clip_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Write the clip; or mark its datastream FAILED and raise."""
    params: dict[str, Any] = context.get_input() or {}
    datastream_id = str(params["datastream_id"])
    context.set_custom_status({"stage": "writing", "datastream_id": datastream_id})
    try:
        result = yield from call(
            context, contracts.CLIP_WRITE, contracts.ClipInput(datastream_id=datastream_id)
        )
    except Exception as err:
        status = {"stage": "writing", "datastream_id": datastream_id}
        reason = yield from report_failure(
            context, err, contracts.CLIP_FAIL, status, datastream_id=datastream_id
        )
        raise ClipFailedError(f"clip failed: {reason}") from err
    context.set_custom_status({"stage": "completed", "datastream_id": datastream_id})
    return {**result.model_dump(mode="json"), "status": "Completed"}
