"""Labeling export wiring: HTTP starter, status and revoke; the ``label_export`` orchestration.

Logic lives in ``dataops.labeling`` (export_steps, export_status, storage.sas) and
``orchestrators.label_export``; auth and problem+json come from ``dataops.api``.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities import labeling_export as export_activities
from activities import runtime
from dataops.api import Role
from dataops.api.auth import Caller
from dataops.ids import instance_id_for
from dataops.labeling import export_steps
from dataops.labeling.export_status import export_view, parse_export_request
from dataops.storage.export_zones import check_export_id
from dataops.storage.sas import export_links
from function_app.starters import answer_with_role
from orchestrators.label_export import label_export_orchestrator

__all__ = ["LABEL_EXPORT_ROUTES", "bp"]

bp = df.Blueprint()
log = logging.getLogger("avops.labeling")

EXPORTS_ROUTE = "label-exports"
EXPORT_ROUTE = "label-exports/{id}"
REVOKE_ROUTE = "label-exports/{id}/revoke"
LABEL_EXPORT_ROUTES = frozenset({EXPORTS_ROUTE, EXPORT_ROUTE, REVOKE_ROUTE})
"""HTTP routes of this blueprint: starters, not part of the Metadata API's route table."""
ORCHESTRATION = "label_export"
_KEYED = func.AuthLevel.FUNCTION


def _json(body: dict[str, Any], status: int) -> func.HttpResponse:
    return func.HttpResponse(
        body=json.dumps(body), status_code=status, mimetype="application/json", charset="utf-8"
    )


def _status_url(req: func.HttpRequest, export_id: str) -> str:
    base = req.url.split("?", 1)[0].split("/api/", 1)[0]
    return f"{base}/api/{EXPORTS_ROUTE}/{export_id}"


def _export_id(req: func.HttpRequest) -> str:
    return check_export_id(req.route_params.get("id", ""), field="id")


@bp.route(route=EXPORTS_ROUTE, methods=["POST"], auth_level=_KEYED)
@bp.durable_client_input(client_name="client")
async def label_exports_create(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/label-exports: validate, create the export's containers, start the export."""

    async def work(caller: Caller) -> func.HttpResponse:
        del caller
        request = parse_export_request(req.get_body())
        settings = runtime.settings()
        export_id = uuid.uuid4().hex
        instance_id = instance_id_for(ORCHESTRATION, export_id)
        record = export_steps.start_export(
            runtime.blob_zones(),
            request,
            export_id=export_id,
            instance_id=instance_id,
            now=datetime.now(UTC),
            default_hours=settings.label_export_expiry_hours,
            max_hours=settings.label_export_max_expiry_hours,
        )
        await client.start_new(ORCHESTRATION, instance_id, {"export_id": export_id})
        status_url = _status_url(req, export_id)
        response = _json(
            {
                "export_id": export_id,
                "instance_id": instance_id,
                "status_url": status_url,
                "expires_at": record.expires_at.isoformat(),
            },
            202,
        )
        response.headers["Location"] = status_url
        return response

    return await answer_with_role(req, Role.WRITE, work)


@bp.route(route=EXPORT_ROUTE, methods=["GET"], auth_level=_KEYED)
@bp.durable_client_input(client_name="client")
async def label_exports_get(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/label-exports/{id}: status, counts, expiry; links for the write role."""

    async def work(caller: Caller) -> func.HttpResponse:
        export_id = _export_id(req)
        zones = runtime.blob_zones()
        record = export_steps.read_record(zones, export_id)
        status = await client.get_status(record.instance_id)
        now = datetime.now(UTC)
        shareable = caller.role >= Role.WRITE and record.revoked_at is None
        links = (
            export_links(zones, export_id, expires_at=record.expires_at)
            if shareable and now < record.expires_at
            else None
        )
        runtime_status = None
        if status is not None and status.runtime_status is not None:
            runtime_status = str(getattr(status.runtime_status, "value", status.runtime_status))
        view = export_view(
            record,
            runtime_status=runtime_status,
            custom_status=status.custom_status if status is not None else None,
            output=status.output if status is not None else None,
            package_complete=export_steps.package_complete(zones, export_id),
            links=links,
            now=now,
        )
        response = _json(view, 200)
        # Links are bearer secrets: no cache may keep the answer.
        response.headers["Cache-Control"] = "no-store"
        return response

    return await answer_with_role(req, Role.READ, work)


@bp.route(route=REVOKE_ROUTE, methods=["POST"], auth_level=_KEYED)
async def label_exports_revoke(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/label-exports/{id}/revoke: delete the access policies, mark revoked."""

    async def work(caller: Caller) -> func.HttpResponse:
        del caller
        export_id = _export_id(req)
        record = export_steps.revoke_export(runtime.blob_zones(), export_id, now=datetime.now(UTC))
        return _json(
            {
                "export_id": export_id,
                "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
            },
            200,
        )

    return await answer_with_role(req, Role.WRITE, work)


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
