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

from dataops.activity_contracts import labeling as contracts
from orchestrators.calls import call, report_failure

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
        result = yield from call(context, contracts.IMPORT_RUN, contracts.ImportRunInput(**args))
    except Exception as err:
        reason = yield from report_failure(context, err, contracts.IMPORT_FAIL, status, **args)
        raise LabelImportFailedError(f"label import failed: {reason}") from err
    status.update(
        stage=result.status,
        error_count=result.error_count,
        datastream_ids=result.datastream_ids,
    )
    context.set_custom_status(dict(status))
    return result.model_dump(mode="json", exclude_unset=True)
