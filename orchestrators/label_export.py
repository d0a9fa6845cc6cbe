"""Orchestrator ``label_export``: plan -> copy items in chunks (fan-out) -> label files + manifest.

Started by ``POST /api/label-exports`` with ``{"export_id": ...}`` and an instance id derived
from the export id. Only the export id and item ranges cross the Durable boundary; the plan
itself is ``_plan.json`` in the export's package container. Deterministic: context calls only.
See docs/labeling.md.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts import labeling as contracts
from orchestrators.calls import call, call_all, report_completed, report_failure

__all__ = [
    "CHUNK_ITEMS",
    "PARALLEL_CHUNKS",
    "LabelExportFailedError",
    "item_chunks",
    "label_export_orchestrator",
]

CHUNK_ITEMS = 50
# Chunks copied at a time: enough to overlap blob round trips, few enough that progress
# (custom status) moves after each wave.
PARALLEL_CHUNKS = 8


class LabelExportFailedError(Exception):
    """Raised after the datastreams were marked FAILED, so the instance ends Failed too."""


def item_chunks(count: int, size: int = CHUNK_ITEMS) -> list[tuple[int, int]]:
    """``[first, last)`` ranges covering ``count`` items."""
    return [(first, min(first + size, count)) for first in range(0, count, size)]


def label_export_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Plan, copy, finish; or mark the export's datastreams FAILED and raise."""
    params: dict[str, Any] = context.get_input() or {}
    export_id = str(params["export_id"])
    status: dict[str, Any] = {"stage": "planning", "export_id": export_id, "copied": 0}
    context.set_custom_status(dict(status))
    try:
        planned = yield from call(
            context,
            contracts.EXPORT_PLAN,
            contracts.ExportPlanInput(export_id=export_id, instance_id=context.instance_id),
        )
        total = planned.items
        status.update(stage="copying", items=total, frames=planned.frames)
        context.set_custom_status(dict(status))
        chunks = item_chunks(total)
        for wave in range(0, len(chunks), PARALLEL_CHUNKS):
            done = yield from call_all(
                context,
                contracts.EXPORT_COPY,
                [
                    contracts.ExportCopyInput(export_id=export_id, first=first, last=last)
                    for first, last in chunks[wave : wave + PARALLEL_CHUNKS]
                ],
            )
            status["copied"] += sum(result.copied for result in done)
            context.set_custom_status(dict(status))
        status["stage"] = "writing label files"
        context.set_custom_status(dict(status))
        result = yield from call(
            context, contracts.EXPORT_FINISH, contracts.ExportInput(export_id=export_id)
        )
    except Exception as err:
        reason = yield from report_failure(
            context, err, contracts.EXPORT_FAIL, status, export_id=export_id
        )
        raise LabelExportFailedError(f"label export failed: {reason}") from err
    return report_completed(context, status, result)
