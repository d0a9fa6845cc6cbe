"""Orchestrator ``enrich``: SYNCHRONIZED datastream -> ENRICHED datastream (curated zone).

Started by the datastreams change feed with an instance id derived from the SYNCHRONIZED
datastream, so redelivered changes start it once. See docs/enrichment.md.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts.steps import ENRICH
from orchestrators.derived_step import StepFailedError, derived_step

__all__ = ["EnrichmentFailedError", "enrich_orchestrator"]

EnrichmentFailedError = StepFailedError


def enrich_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Prepare the ENRICHED datastream, run the providers, or mark it FAILED."""
    return (yield from derived_step(context, step=ENRICH, running_stage="enriching"))
