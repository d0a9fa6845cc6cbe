"""Clip wiring: the ``clip`` orchestration and its activities.

Logic lives in ``dataops.clips`` and ``orchestrators.clip``; the starters are routes of
``dataops/api/routes.py`` (handlers in ``dataops/api/starters.py``).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities import clips as clip_activities
from function_app.activity_functions import register_activities
from orchestrators.clip import clip_orchestrator

__all__ = ["bp"]

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def clip(context: df.DurableOrchestrationContext) -> Any:
    """Write one MCAP clip; see orchestrators/clip.py."""
    return (yield from clip_orchestrator(context))


register_activities(bp, clip_activities)
