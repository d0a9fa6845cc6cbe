"""Extraction wiring: the ``extract`` orchestrator, its activities and the rerun starter (HTTP).

Logic lives in ``dataops.extraction`` (through ``activities.extraction``) and
``orchestrators.extract``; here only triggers, bindings and the HTTP translation.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities import extraction as extraction_activities
from activities import runtime
from dataops.api import ApiError
from dataops.api.params import check_id
from dataops.extraction.rerun import extraction_target
from dataops.ids import instance_id_for
from function_app.starters import Started, start_with_write_role
from orchestrators.extract import extract_orchestrator

__all__ = ["EXTRACT_ROUTE", "bp", "extract_start_input"]

bp = df.Blueprint()
log = logging.getLogger("avops.extraction")

EXTRACT_ROUTE = "measurements/{id}/extract"
_ACTIVE = frozenset({df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running})


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


async def _running(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    return status is not None and status.runtime_status in _ACTIVE


async def _start_extraction(
    client: df.DurableOrchestrationClient, measurement_id: str
) -> tuple[str, str]:
    """Start a rerun of extraction; ApiError 409 while one runs. (instance id, datastream id)"""
    target = extraction_target(runtime.metadata_store(), measurement_id)
    instance_id = instance_id_for("extract-rerun", target.raw.id)
    # The datastream of a starting run does not exist until its prepare activity ran:
    # the instances close that window (the one ingest started and the rerun one).
    for other in (instance_id_for("extract", target.raw.id), instance_id):
        if await _running(client, other):
            raise ApiError(409, f"an extraction of {measurement_id} is running ({other})")
    datastream_id = str(uuid.uuid4())
    await client.start_new(
        "extract",
        instance_id,
        extract_start_input(measurement_id, target.raw.id, datastream_id=datastream_id),
    )
    return instance_id, datastream_id


@bp.route(route=EXTRACT_ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def ops_extract_measurement(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/measurements/{id}/extract: a new EXTRACTED datastream (write role); 202."""

    async def work() -> Started:
        measurement_id = check_id(req.route_params.get("id", ""), parameter="id")
        instance_id, datastream_id = await _start_extraction(client, measurement_id)
        log.info("started extraction %s of %s into %s", instance_id, measurement_id, datastream_id)
        return Started(instance_id, {"X-AVOps-Datastream-Id": datastream_id})

    return await start_with_write_role(req, client, work)
