"""Orchestrator ``synchronize``: EXTRACTED datastream -> SYNCHRONIZED datastream (curated zone).

Started by the datastreams change feed with an instance id derived from the EXTRACTED
datastream, so redelivered changes start it once. See docs/synchronization.md.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts.steps import SYNCHRONIZE
from orchestrators.derived_step import StepFailedError, derived_step

__all__ = ["SynchronizationFailedError", "synchronize_orchestrator"]

SynchronizationFailedError = StepFailedError


def synchronize_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Prepare the SYNCHRONIZED datastream, run the alignment, or mark it FAILED."""
    return (yield from derived_step(context, step=SYNCHRONIZE, running_stage="synchronizing"))
