"""Orchestrator ``detect_scenes``: SYNCHRONIZED (or ENRICHED) -> SCENES datastream (curated).

Started by the datastreams change feed with an instance id derived from the source
datastream, so redelivered changes start it once. See docs/scenes.md.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts.steps import DETECT_SCENES
from orchestrators.derived_step import StepFailedError, derived_step

__all__ = ["SceneDetectionFailedError", "detect_scenes_orchestrator"]

SceneDetectionFailedError = StepFailedError


def detect_scenes_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Prepare the SCENES datastream, run the detectors, or mark it FAILED."""
    return (yield from derived_step(context, step=DETECT_SCENES, running_stage="detecting"))
