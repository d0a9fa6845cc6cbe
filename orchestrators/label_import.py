"""Orchestrator ``label_import``: check one partner label file, then reject or register it.

Started by ``on_labeled_blob_created`` with an instance id derived from (container, blob name,
etag), so a redelivered event starts nothing new. Deterministic: only context calls. The
activity writes the report itself (accepted or rejected); an unexpected failure marks the
run's LABELED datastreams FAILED and reports ``failed``. See docs/labeling.md.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators.derived_step import IO_RETRY, first_line

__all__ = ["LabelImportFailedError", "label_import_orchestrator"]


class LabelImportFailedError(Exception):
    """Raised after the failure was reported, so the instance ends Failed too."""


def label_import_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Run the check-and-register activity; on failure report it and fail the instance."""
    params: dict[str, Any] = context.get_input() or {}
    args = {**params, "instance_id": context.instance_id}
    status: dict[str, Any] = {
        "stage": "checking",
        "export_id": params.get("export_id"),
        "file": params.get("name"),
    }
    context.set_custom_status(dict(status))
    try:
        result: dict[str, Any] = yield context.call_activity_with_retry(
            "label_import_run", IO_RETRY, args
        )
    except Exception as err:
        reason = first_line(err)
        status.update(stage="failed", reason=reason)
        context.set_custom_status(dict(status))
        yield context.call_activity_with_retry(
            "label_import_fail", IO_RETRY, {**args, "reason": reason}
        )
        raise LabelImportFailedError(f"label import failed: {reason}") from err
    status.update(
        stage=result.get("status"),
        error_count=result.get("error_count", 0),
        datastream_ids=result.get("datastream_ids", []),
    )
    context.set_custom_status(dict(status))
    return result
