"""Label import wiring: the labeled-zone Event Grid trigger, ``label_import`` and its activities.

Logic lives in ``dataops.labeling`` (through ``activities.labeling_import``) and
``orchestrators.label_import``.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from activities import labeling_import as import_activities
from activities.runtime import blob_zones, settings
from dataops.errors import DataOpsError
from dataops.events import parse_blob_event
from dataops.labeling.importing.events import label_upload_from_event
from dataops.paths import Zone
from function_app.activity_functions import register_activities
from function_app.events import event_grid_payload
from function_app.orchestration_functions import register_orchestration
from function_app.telemetry import traced_trigger
from orchestrators.label_import import label_import_orchestrator

__all__ = ["bp"]

bp = df.Blueprint()
log = logging.getLogger("avops.labeling")


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
@traced_trigger
async def on_labeled_blob_created(
    event: func.EventGridEvent, client: df.DurableOrchestrationClient
) -> None:
    """Start ``label_import`` for a partner's label file, once per version of the file."""
    try:
        upload = label_upload_from_event(
            parse_blob_event(event_grid_payload(event)), blob_zones().container_name(Zone.LABELED)
        )
    except DataOpsError:
        log.exception("rejected storage event %s (subject %s)", event.id, event.subject)
        raise
    if upload is None:
        return
    instance_id = upload.instance_id
    status = await client.get_status(instance_id)
    if status is not None and status.runtime_status is not None:
        # A redelivered event: this version of the file has its run (running, done or failed).
        log.info("duplicate event %s for %s: %s exists", event.id, upload.name, instance_id)
        return
    await client.start_new(
        "label_import",
        instance_id,
        upload.start_input(max_bytes=settings().label_import_max_bytes),
    )
    log.info(
        "started label_import %s for %s in export %s (event %s)",
        instance_id,
        upload.name,
        upload.export_id,
        event.id,
    )


register_orchestration(
    bp,
    "label_import",
    label_import_orchestrator,
    "Partner label file -> report, and LABELED datastreams when valid.",
)


register_activities(bp, import_activities)
