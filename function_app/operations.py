"""Operations wiring: rerun, rehydrate and downstream-rerun starters (HTTP), the reconciler (timer).

Logic lives in ``dataops.ingest.runs`` (rerun, rehydrate), ``dataops.ingest.reconcile`` and
``dataops.synchronization.routing`` (which steps a datastream feeds);
auth and problem+json come from ``dataops.api``. Here: the Durable client behind the
``RunControl`` protocol, and the translation between HTTP and those calls.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities import runtime
from dataops.api import ApiError
from dataops.api.params import check_id
from dataops.errors import DataOpsError
from dataops.ingest.reconcile import firing_time, reconcile
from dataops.ingest.runs import RerunResult, RunInfo, rerun_measurement, rerun_upload
from dataops.paths import check_relative_path
from dataops.synchronization.routing import rerun_starts
from function_app.starters import Started, start_with_write_role

__all__ = ["OPERATION_ROUTES", "DurableRunControl", "bp"]

bp = df.Blueprint()
log = logging.getLogger("avops.operations")

RERUN_ROUTE = "measurements/{id}/rerun"
# ASP.NET routing (the Functions host) allows a catch-all only as the last segment, so
# /uploads/<prefix with slashes>/rehydrate is matched as uploads/{*path} and split here.
REHYDRATE_ROUTE = "uploads/{*path}"
REHYDRATE_SUFFIX = "/rehydrate"
# A downstream step (synchronize, enrich, detect_scenes) again from its source datastream.
DOWNSTREAM_RERUN_ROUTE = "datastreams/{id}/rerun"
OPERATION_ROUTES = frozenset({RERUN_ROUTE, REHYDRATE_ROUTE, DOWNSTREAM_RERUN_ROUTE})
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


async def _rerun(
    client: df.DurableOrchestrationClient,
    work: Callable[[DurableRunControl], Awaitable[RerunResult]],
) -> Started:
    result = await work(DurableRunControl(client))
    return Started(result.instance_id, {"X-AVOps-Restored-From": result.restore.restored_from})


_KEYED = func.AuthLevel.FUNCTION


@bp.route(route=RERUN_ROUTE, methods=["POST"], auth_level=_KEYED)
@bp.durable_client_input(client_name="client")
async def ops_rerun_measurement(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/measurements/{id}/rerun: restore the upload, start a fresh ingest (write role)."""

    async def rerun(control: DurableRunControl) -> RerunResult:
        measurement_id = check_id(req.route_params.get("id", ""), parameter="id")
        return await rerun_measurement(
            control,
            runtime.blob_zones(),
            runtime.metadata_store(),
            measurement_id=measurement_id,
            start_input=_start_input,
            max_manifest_bytes=runtime.settings().manifest_max_bytes,
        )

    return await start_with_write_role(req, client, lambda: _rerun(client, rerun))


@bp.route(route=REHYDRATE_ROUTE, methods=["POST"], auth_level=_KEYED)
@bp.durable_client_input(client_name="client")
async def ops_rehydrate_upload(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/uploads/{prefix}/rehydrate: restore an upload by prefix and start ingest."""

    async def rehydrate(control: DurableRunControl) -> RerunResult:
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

    return await start_with_write_role(req, client, lambda: _rerun(client, rehydrate))


@bp.route(route=DOWNSTREAM_RERUN_ROUTE, methods=["POST"], auth_level=_KEYED)
@bp.durable_client_input(client_name="client")
async def ops_rerun_downstream(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/datastreams/{id}/rerun: the step consuming it runs again into a new datastream.

    Write role. The change feed's run and its output stay; the new instance reads the step's
    config as it is now. 202; X-AVOps-Datastream-Id names the output it will make.
    """

    async def work() -> Started:
        datastream_id = check_id(req.route_params.get("id", ""), parameter="id")
        source = runtime.metadata_store().get_datastream(datastream_id)
        starts = rerun_starts(source, uuid.uuid4().hex)
        for start in starts:
            await client.start_new(start.orchestrator, start.instance_id, start.input)
            log.info(
                "rerun: started %s %s from datastream %s into %s",
                start.orchestrator,
                start.instance_id,
                source.id,
                start.input["datastream_id"],
            )
        outputs = ",".join(str(start.input["datastream_id"]) for start in starts)
        return Started(starts[0].instance_id, {"X-AVOps-Datastream-Id": outputs})

    return await start_with_write_role(req, client, work)


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
