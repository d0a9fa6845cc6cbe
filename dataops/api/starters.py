"""Operations on orchestrations: the starters, the run status route and the export view.

Each handler gets the trigger's durable client as ``context.runs`` (the :class:`RunControl`
protocol, so nothing here imports azure-functions). A starter answers 202 with
:class:`RunAccepted`: the instance id and the app's own status route, ``/api/runs/{id}``
(read role), in the body and the ``Location`` header. Never Durable's management URLs: they
carry the host's system key, and with it terminate, rewind and raise-event on every instance;
those stay with operators.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from dataops.api.auth import Role, has_role
from dataops.api.dispatch import (
    ApiContext,
    Call,
    Reply,
    RunHandler,
    StartInputs,
    json_reply,
)
from dataops.api.models import (
    LabelExportAccepted,
    LabelExportView,
    RunAccepted,
    RunStatus,
    StrandedList,
    StrandedRow,
)
from dataops.api.problems import ApiError
from dataops.clips.steps import ClipRequest, prepare_clip
from dataops.downstream import rerun_starts
from dataops.errors import DataOpsError
from dataops.extraction.rerun import extraction_target
from dataops.ids import instance_id_for
from dataops.ingest.runs import RerunResult, RunControl, rerun_measurement, rerun_upload
from dataops.ingest.stranded import find_stranded
from dataops.labeling.exporting.request import LabelExportRequest
from dataops.labeling.exporting.status import export_view
from dataops.labeling.exporting.steps import package_complete, read_record, start_export
from dataops.paths import check_relative_path
from dataops.storage import BlobZones
from dataops.storage.export_zones import check_export_id
from dataops.storage.sas import export_links

__all__ = [
    "CLIP",
    "REHYDRATE_SUFFIX",
    "RUN_HANDLERS",
    "RUNS_ROUTE",
    "run_status",
    "run_url",
    "start_clip",
]

log = logging.getLogger("avops.operations")

RUNS_ROUTE = "runs"
# The Functions host allows a catch-all only as the last segment, so
# /uploads/<prefix with slashes>/rehydrate arrives as uploads/{*path} and is split here.
REHYDRATE_SUFFIX = "/rehydrate"
LABEL_EXPORT = "label_export"
DATASTREAM_HEADER = "X-AVOps-Datastream-Id"


def run_url(origin: str, instance_id: str) -> str:
    """The status route of ``instance_id`` (absolute when ``origin`` is known)."""
    return f"{origin}/api/{RUNS_ROUTE}/{quote(instance_id, safe='')}"


def _runs(context: ApiContext) -> RunControl:
    if context.runs is None:
        raise ApiError(503, "orchestrations are not available in this process")
    return context.runs


def _inputs(context: ApiContext) -> StartInputs:
    if context.start_inputs is None:
        raise ApiError(503, "orchestration inputs are not configured in this process")
    return context.start_inputs


def _zones(context: ApiContext) -> BlobZones:
    if context.zones is None:
        raise ApiError(503, "blob storage is not configured in this process")
    return context.zones()


def _accepted(
    call: Call,
    instance_id: str,
    *,
    datastream_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    status_url = run_url(call.origin, instance_id)
    out = {"Location": status_url, **(headers or {})}
    if datastream_id is not None:
        out.setdefault(DATASTREAM_HEADER, datastream_id)
    return Reply(
        body=RunAccepted(
            instance_id=instance_id, status_url=status_url, datastream_id=datastream_id
        ),
        headers=out,
    )


async def run_status(context: ApiContext, instance_id: str) -> RunStatus:
    """The status of ``instance_id``; ApiError 404 when there is no such run."""
    info = await _runs(context).status(instance_id)
    if info is None:
        raise ApiError(404, f"no run {instance_id}")
    return RunStatus(
        instance_id=info.instance_id,
        name=info.name,
        runtime_status=info.runtime_status or "Unknown",
        custom_status=info.custom_status,
        output=info.output,
        created_time=info.created_time,
        last_updated_time=info.last_updated_time,
    )


async def get_run(context: ApiContext, call: Call) -> Reply:
    """``GET /runs/{id}``: the instance's status, or 404."""
    status = await run_status(context, call.ids["id"])
    # A run changes while it is followed: no cache may answer for it.
    return json_reply(status, headers={"Cache-Control": "no-store"})


async def list_stranded_uploads(context: ApiContext, call: Call) -> Reply:
    """``GET /landing/stranded``: the reconciler's stranded rows, computed now."""
    minutes = context.settings().reconcile_after_minutes
    now = datetime.now(UTC)
    rows = await find_stranded(
        _runs(context), _zones(context), older_than=now - timedelta(minutes=minutes)
    )
    return json_reply(
        StrandedList(
            items=[StrandedRow.model_validate(row.to_dict()) for row in rows],
            threshold_minutes=minutes,
            checked_at=now,
        ),
        headers={"Cache-Control": "no-store"},
    )


def _restored_and_started(call: Call, result: RerunResult) -> Reply:
    """202 for a started rerun, naming where its upload was restored from."""
    return _accepted(
        call, result.instance_id, headers={"X-AVOps-Restored-From": result.restore.restored_from}
    )


async def rerun_measurement_upload(context: ApiContext, call: Call) -> Reply:
    """``POST /measurements/{id}/rerun``: restore its upload, start a fresh ingest."""
    return _restored_and_started(
        call,
        await rerun_measurement(
            _runs(context),
            _zones(context),
            context.store(),
            measurement_id=call.ids["id"],
            start_input=_inputs(context).ingest,
            max_manifest_bytes=context.settings().manifest_max_bytes,
        ),
    )


async def rehydrate_upload(context: ApiContext, call: Call) -> Reply:
    """``POST /uploads/{prefix}/rehydrate``: restore an upload by prefix, start ingest."""
    path = call.ids["path"]
    if not path.endswith(REHYDRATE_SUFFIX):
        raise ApiError(404, f"no POST operation on /uploads/{path}")
    prefix = path.removesuffix(REHYDRATE_SUFFIX)
    try:
        check_relative_path(prefix, field="prefix")
    except DataOpsError as err:
        raise ApiError(400, str(err), parameter="prefix") from err
    return _restored_and_started(
        call,
        await rerun_upload(
            _runs(context),
            _zones(context),
            context.store(),
            upload_prefix=prefix,
            start_input=_inputs(context).ingest,
            max_manifest_bytes=context.settings().manifest_max_bytes,
        ),
    )


async def extract_measurement(context: ApiContext, call: Call) -> Reply:
    """``POST /measurements/{id}/extract``: a new EXTRACTED datastream; 409 while one runs."""
    runs = _runs(context)
    measurement_id = call.ids["id"]
    target = await asyncio.to_thread(extraction_target, context.store(), measurement_id)
    instance_id = instance_id_for("extract-rerun", target.raw.id)
    # The datastream of a starting run does not exist until its prepare activity ran:
    # the instances close that window (the one ingest started and the rerun one).
    for other in (instance_id_for("extract", target.raw.id), instance_id):
        found = await runs.status(other)
        if found is not None and found.active:
            raise ApiError(409, f"an extraction of {measurement_id} is running ({other})")
    datastream_id = str(uuid.uuid4())
    await runs.start(
        "extract",
        instance_id,
        _inputs(context).extract(measurement_id, target.raw.id, datastream_id),
    )
    log.info("started extraction %s of %s into %s", instance_id, measurement_id, datastream_id)
    return _accepted(call, instance_id, datastream_id=datastream_id)


async def rerun_datastream_step(context: ApiContext, call: Call) -> Reply:
    """``POST /datastreams/{id}/rerun``: the consuming step again, into a new datastream."""
    runs = _runs(context)
    source = await asyncio.to_thread(context.store().get_datastream, call.ids["id"])
    starts = rerun_starts(source, uuid.uuid4().hex)
    for start in starts:
        await runs.start(start.orchestrator, start.instance_id, start.input)
        log.info(
            "rerun: started %s %s from datastream %s into %s",
            start.orchestrator,
            start.instance_id,
            source.id,
            start.input["datastream_id"],
        )
    outputs = [str(start.input["datastream_id"]) for start in starts]
    # One step per source type today; the header lists every output should there be more.
    return _accepted(
        call,
        starts[0].instance_id,
        datastream_id=outputs[0],
        headers={DATASTREAM_HEADER: ",".join(outputs)},
    )


async def create_label_export(context: ApiContext, call: Call) -> Reply:
    """``POST /label-exports``: the export's containers and record, then ``label_export``."""
    request: LabelExportRequest = call.body
    runs = _runs(context)
    zones = _zones(context)
    settings = context.settings()
    export_id = uuid.uuid4().hex
    instance_id = instance_id_for(LABEL_EXPORT, export_id)
    record = await asyncio.to_thread(
        start_export,
        zones,
        request,
        export_id=export_id,
        instance_id=instance_id,
        now=datetime.now(UTC),
        default_hours=settings.label_export_expiry_hours,
        max_hours=settings.label_export_max_expiry_hours,
    )
    await runs.start(LABEL_EXPORT, instance_id, {"export_id": export_id})
    status_url = run_url(call.origin, instance_id)
    return Reply(
        body=LabelExportAccepted(
            instance_id=instance_id,
            status_url=status_url,
            export_id=export_id,
            export_url=f"{call.origin}/api/label-exports/{export_id}",
            expires_at=record.expires_at,
        ),
        headers={"Location": status_url},
    )


async def get_label_export(context: ApiContext, call: Call) -> Reply:
    """``GET /label-exports/{id}``: status, counts, expiry; links for the write role."""
    export_id = check_export_id(call.ids["id"], field="id")
    zones = _zones(context)
    record = await asyncio.to_thread(read_record, zones, export_id)
    info = await _runs(context).status(record.instance_id)
    now = datetime.now(UTC)
    shareable = (
        call.caller is not None and has_role(call.caller, Role.WRITE) and record.revoked_at is None
    )
    links = (
        await asyncio.to_thread(export_links, zones, export_id, expires_at=record.expires_at)
        if shareable and now < record.expires_at
        else None
    )
    view = export_view(
        record,
        runtime_status=info.runtime_status if info is not None else None,
        custom_status=info.custom_status if info is not None else None,
        output=info.output if info is not None else None,
        package_complete=await asyncio.to_thread(package_complete, zones, export_id),
        links=links,
        now=now,
    )
    # Links are bearer secrets: no cache may keep the answer.
    return json_reply(LabelExportView.model_validate(view), headers={"Cache-Control": "no-store"})


CLIP = "clip"


async def start_clip(
    context: ApiContext,
    request: ClipRequest,
    *,
    scene_id: str | None,
    measurement_id: str | None,
) -> tuple[str, str]:
    """Record the CLIP datastream and start ``clip``: (instance id, datastream id)."""
    runs = _runs(context)
    datastream_id = uuid.uuid4().hex
    instance_id = instance_id_for(CLIP, datastream_id)
    await asyncio.to_thread(
        prepare_clip,
        context.store(),
        request,
        datastream_id=datastream_id,
        instance_id=instance_id,
        default_margin_s=context.settings().clip_margin_s,
        scene_id=scene_id,
        measurement_id=measurement_id,
    )
    await runs.start(CLIP, instance_id, {"datastream_id": datastream_id})
    log.info("started clip %s into %s", instance_id, datastream_id)
    return instance_id, datastream_id


async def clip_scene(context: ApiContext, call: Call) -> Reply:
    """``POST /scenes/{id}/clip``: a CLIP datastream of the scene's window, then ``clip``."""
    instance_id, datastream_id = await start_clip(
        context, call.body, scene_id=call.ids["id"], measurement_id=None
    )
    return _accepted(call, instance_id, datastream_id=datastream_id)


async def clip_measurement(context: ApiContext, call: Call) -> Reply:
    """``POST /measurements/{id}/clip``: a CLIP datastream of ``from_ns..to_ns``."""
    instance_id, datastream_id = await start_clip(
        context, call.body, scene_id=None, measurement_id=call.ids["id"]
    )
    return _accepted(call, instance_id, datastream_id=datastream_id)


RUN_HANDLERS: dict[str, RunHandler] = {
    "clipScene": clip_scene,
    "clipMeasurement": clip_measurement,
    "getRun": get_run,
    "listStrandedUploads": list_stranded_uploads,
    "rerunMeasurement": rerun_measurement_upload,
    "rehydrateUpload": rehydrate_upload,
    "extractMeasurement": extract_measurement,
    "rerunDatastreamStep": rerun_datastream_step,
    "createLabelExport": create_label_export,
    "getLabelExport": get_label_export,
}
