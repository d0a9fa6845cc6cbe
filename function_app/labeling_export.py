"""Labeling export wiring: the ``label_export`` orchestration and its activities.

Logic lives in ``dataops.labeling`` (export_steps) and ``orchestrators.label_export``. Starting,
reading and revoking an export are routes of ``dataops/api/routes.py`` (handlers in
``dataops/api/starters.py`` and ``handlers.py``), served by ``function_app/http.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

from activities import labeling_export as export_activities
from orchestrators.label_export import label_export_orchestrator

__all__ = ["bp"]

bp = df.Blueprint()
log = logging.getLogger("avops.labeling")


@bp.orchestration_trigger(context_name="context")
def label_export(context: df.DurableOrchestrationContext) -> Any:
    """Plan, copy in chunks, write the label files; see orchestrators/label_export.py."""
    return (yield from label_export_orchestrator(context))


# Bare ``dict`` on activity inputs: the worker refuses ``dict[str, Any]`` on trigger bindings.


@bp.activity_trigger(input_name="params")
def label_export_plan(params: dict) -> dict[str, Any]:
    """Selection -> _plan.json; LABEL_EXPORT datastreams PROCESSING."""
    return export_activities.plan(params)


@bp.activity_trigger(input_name="params")
def label_export_copy(params: dict) -> dict[str, Any]:
    """Copy one range of plan items into the package."""
    return export_activities.copy(params)


@bp.activity_trigger(input_name="params")
def label_export_finish(params: dict) -> dict[str, Any]:
    """coco.json, openlabel.json, then package.json; datastreams COMPLETED."""
    return export_activities.finish(params)


@bp.activity_trigger(input_name="params")
def label_export_fail(params: dict) -> dict[str, Any]:
    """Datastreams FAILED with the reason."""
    return export_activities.fail(params)
