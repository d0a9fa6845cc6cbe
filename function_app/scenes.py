"""Scene detection wiring: the ``detect_scenes`` orchestration and its activities.

Started by the datastreams change-feed consumer (function_app/downstream.py) through the
routing table in ``dataops.synchronization.routing``. Logic lives in ``dataops.scenes``
(through ``activities.scenes``) and ``orchestrators.detect_scenes``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities import scenes as scene_activities
from orchestrators.detect_scenes import detect_scenes_orchestrator

__all__ = ["bp"]

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def detect_scenes(context: df.DurableOrchestrationContext) -> Any:
    """SYNCHRONIZED -> SCENES; see orchestrators/detect_scenes.py."""
    return (yield from detect_scenes_orchestrator(context))


# Bare ``dict`` on activity inputs: the worker refuses ``dict[str, Any]`` on trigger bindings.


@bp.activity_trigger(input_name="params")
def detect_scenes_prepare(params: dict) -> dict[str, Any]:
    """SCENES datastream PROCESSING (idempotent)."""
    return scene_activities.prepare(params)


@bp.activity_trigger(input_name="params")
def detect_scenes_run(params: dict) -> dict[str, Any]:
    """Detect scenes, write them to the store and the Delta tables, datastream COMPLETED."""
    return scene_activities.run(params)


@bp.activity_trigger(input_name="params")
def detect_scenes_fail(params: dict) -> dict[str, Any]:
    """SCENES datastream FAILED with the reason."""
    return scene_activities.fail(params)
