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


@bp.orchestration_trigger(context_name="context")
def extract(context: df.DurableOrchestrationContext) -> Any:
    """RAW -> batch jobs -> EXTRACTED; see orchestrators/extract.py."""
    return (yield from extract_orchestrator(context))


# Bare ``dict`` on activity inputs: the worker refuses ``dict[str, Any]`` on trigger bindings.


@bp.activity_trigger(input_name="params")
def extract_prepare(params: dict) -> dict[str, Any]:
    """EXTRACTED datastream PROCESSING; one batch job per recording submitted."""
    return extraction_activities.prepare(params)


@bp.activity_trigger(input_name="params")
def extract_poll(params: dict) -> dict[str, Any]:
    """Tasks done / total and failed jobs."""
    return extraction_activities.poll(params)


@bp.activity_trigger(input_name="params")
def extract_record(params: dict) -> dict[str, Any]:
    """File records and stats from the task manifests; EXTRACTED datastream COMPLETED."""
    return extraction_activities.record(params)


@bp.activity_trigger(input_name="params")
def extract_fail(params: dict) -> dict[str, Any]:
    """Cancel what still runs; EXTRACTED datastream FAILED naming task, exit code and log."""
    return extraction_activities.fail(params)
