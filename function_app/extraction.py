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
from function_app.orchestration_functions import register_orchestration
from orchestrators.extract import extract_orchestrator

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


register_orchestration(
    bp,
    "extract",
    extract_orchestrator,
    "RAW -> batch jobs -> EXTRACTED; see orchestrators/extract.py.",
)


register_activities(bp, extraction_activities)
