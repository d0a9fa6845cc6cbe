"""Extraction wiring: the ``extract`` orchestrator and its activities.

Logic lives in ``dataops.extraction`` (through ``activities.extraction``) and
``orchestrators.extract``. The rerun of extraction (``POST /api/measurements/{id}/extract``) is a
route of ``dataops/api/routes.py``; it starts ``extract`` with :func:`extract_start_input`.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

from activities import extraction as extraction_activities
from activities import runtime
from function_app.activity_functions import register_activities
from orchestrators.extract import extract_orchestrator
from orchestrators.telemetry import with_telemetry_ids

__all__ = ["bp", "extract_start_input"]

bp = df.Blueprint()
log = logging.getLogger("avops.extraction")


def extract_start_input(
    measurement_id: str, raw_datastream_id: str, *, datastream_id: str | None = None
) -> dict[str, Any]:
    """Orchestrator input: ids plus the settings it needs (never read during replay)."""
    return {
        "measurement_id": measurement_id,
        "raw_datastream_id": raw_datastream_id,
        "datastream_id": datastream_id,
        "deadline_minutes": runtime.settings().extract_deadline_minutes,
    }


@bp.orchestration_trigger(context_name="context")
def extract(context: df.DurableOrchestrationContext) -> Any:
    """RAW -> batch jobs -> EXTRACTED; see orchestrators/extract.py."""
    return (yield from with_telemetry_ids(context, "extract", extract_orchestrator(context)))


register_activities(bp, extraction_activities)
