"""Operations wiring: rerun and rehydrate starters (HTTP) and the reconciler (timer).

Logic lives in ``dataops.ingest.runs`` (rerun, rehydrate) and ``dataops.ingest.reconcile``;
auth and problem+json come from ``dataops.api``. Here: the Durable client behind the
``RunControl`` protocol, and the translation between HTTP and those calls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities import runtime
from dataops.api import PROBLEM_MEDIA_TYPE, ApiError, Role
from dataops.api.auth import require_role, resolve_caller
from dataops.api.params import check_id
from dataops.api.problems import from_dataops_error
from dataops.errors import DataOpsError
from dataops.ingest.reconcile import firing_time, reconcile
from dataops.ingest.runs import RerunResult, RunInfo, rerun_measurement, rerun_upload
from dataops.paths import check_relative_path

__all__ = ["OPERATION_ROUTES", "DurableRunControl", "bp"]

bp = df.Blueprint()
log = logging.getLogger("avops.operations")

RERUN_ROUTE = "measurements/{id}/rerun"
# ASP.NET routing (the Functions host) allows a catch-all only as the last segment, so
# /uploads/<prefix with slashes>/rehydrate is matched as uploads/{*path} and split here.
REHYDRATE_ROUTE = "uploads/{*path}"
REHYDRATE_SUFFIX = "/rehydrate"
OPERATION_ROUTES = frozenset({RERUN_ROUTE, REHYDRATE_ROUTE})
"""HTTP routes of this blueprint: starters, not part of the Metadata API's route table."""


def _status_text(value: Any) -> str | None:
    # The SDK hands back an OrchestrationRuntimeStatus or, for unknown ones, the raw string.
    return None if value is None else str(getattr(value, "value", value))


def _run_info(status: df.DurableOrchestrationStatus) -> RunInfo:
    return RunInfo(
        instance_id=str(status.instance_id),
        name=status.name,
        runtime_status=_status_text(status.runtime_status),
        created_time=status.created_time,
        output=status.output,
        custom_status=status.custom_status,
    )


class DurableRunControl:
    """``dataops.ingest.runs.RunControl`` on the Durable Functions client."""

    def __init__(self, client: df.DurableOrchestrationClient) -> None:
        self._client = client

    async def status(self, instance_id: str) -> RunInfo | None:
        """The instance, or None (the client answers a not-found with an empty status)."""
        status = await self._client.get_status(instance_id)
        if status is None or status.runtime_status is None:
            return None
        return _run_info(status)

    async def start(self, orchestration: str, instance_id: str, start_input: Any) -> None:
        """start_new: replaces a finished instance, raises for an active one."""
        await self._client.start_new(orchestration, instance_id, start_input)

    async def active_created_before(self, created_before: datetime) -> list[RunInfo]:
        """Pending and Running instances created before ``created_before``."""
        statuses = await self._client.get_status_by(
            created_time_to=created_before,
            runtime_status=[
                df.OrchestrationRuntimeStatus.Pending,
                df.OrchestrationRuntimeStatus.Running,
            ],
        )
        return [_run_info(status) for status in statuses]

    async def terminate(self, instance_id: str, reason: str) -> None:
        """Terminate with ``reason`` (shown as the instance's output)."""
        await self._client.terminate(instance_id, reason)


def _problem(error: ApiError, req: func.HttpRequest) -> func.HttpResponse:
    path = "/" + req.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    return func.HttpResponse(
        body=error.problem(instance=path).model_dump_json(exclude_none=True),
        status_code=error.status,
        headers=error.headers,
        mimetype=PROBLEM_MEDIA_TYPE,
        charset="utf-8",
    )


async def _start(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    work: Callable[[DurableRunControl], Awaitable[RerunResult]],
) -> func.HttpResponse:
    """Write role, then ``work``; 202 with the status URLs, or problem+json."""
    try:
        settings = runtime.settings()
        headers = {name.lower(): value for name, value in req.headers.items()}
        require_role(resolve_caller(headers, dict(req.params), settings), Role.WRITE)
        result = await work(DurableRunControl(client))
    except ApiError as err:
        return _problem(err, req)
    except DataOpsError as err:
        return _problem(from_dataops_error(err), req)
    except Exception:
        log.exception("%s %s failed", req.method, req.url)
        return _problem(ApiError(500, "internal error"), req)
    response = client.create_check_status_response(req, result.instance_id)
    response.headers["X-AVOps-Restored-From"] = result.restore.restored_from
    return response


_KEYED = func.AuthLevel.FUNCTION


@bp.route(route=RERUN_ROUTE, methods=["POST"], auth_level=_KEYED)
@bp.durable_client_input(client_name="client")
async def ops_rerun_measurement(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/measurements/{id}/rerun: restore the upload, start a fresh ingest (write role)."""

    async def work(control: DurableRunControl) -> RerunResult:
        measurement_id = check_id(req.route_params.get("id", ""), parameter="id")
        return await rerun_measurement(
            control,
            runtime.blob_zones(),
            runtime.metadata_store(),
            measurement_id=measurement_id,
            start_input=_start_input,
            max_manifest_bytes=runtime.settings().manifest_max_bytes,
        )

    return await _start(req, client, work)


@bp.route(route=REHYDRATE_ROUTE, methods=["POST"], auth_level=_KEYED)
@bp.durable_client_input(client_name="client")
async def ops_rehydrate_upload(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/uploads/{prefix}/rehydrate: restore an upload by prefix and start ingest."""

    async def work(control: DurableRunControl) -> RerunResult:
        path = req.route_params.get("path", "")
        if not path.endswith(REHYDRATE_SUFFIX):
            raise ApiError(404, f"no POST operation on /uploads/{path}")
        prefix = path.removesuffix(REHYDRATE_SUFFIX)
        try:
            check_relative_path(prefix, field="prefix")
        except DataOpsError as err:
            raise ApiError(400, str(err), parameter="prefix") from err
        return await rerun_upload(
            control,
            runtime.blob_zones(),
            runtime.metadata_store(),
            upload_prefix=prefix,
            start_input=_start_input,
            max_manifest_bytes=runtime.settings().manifest_max_bytes,
        )

    return await _start(req, client, work)


def _start_input(prefix: str, sources: list[str]) -> dict[str, Any]:
    return runtime.ingest_start_input(prefix, sources=sources)


@bp.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def reconcile_ingest(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Every 5 minutes: start runs for orphaned landing manifests, terminate overdue runs."""
    if timer.past_due:
        log.info("reconciler timer is past due; running now")
    settings = runtime.settings()
    await reconcile(
        DurableRunControl(client),
        runtime.blob_zones(),
        runtime.metadata_store(),
        now=firing_time(timer.schedule_status, datetime.now(UTC)),
        reconcile_after=timedelta(minutes=settings.reconcile_after_minutes),
        run_deadline=timedelta(minutes=settings.run_deadline_minutes),
        start_input=runtime.ingest_start_input,
    )
