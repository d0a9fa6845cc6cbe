"""Ingest wiring: the landing Event Grid trigger, the ``ingest`` orchestrator and its activities."""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities import ingest as ingest_activities
from activities.runtime import ingest_start_input, landing_container
from dataops.errors import DataOpsError
from dataops.events import landing_upload_prefix, parse_blob_event
from dataops.ids import instance_id_for
from function_app.activity_functions import register_activities
from function_app.events import event_grid_payload
from orchestrators.ingest import ingest_orchestrator

bp = df.Blueprint()
log = logging.getLogger("avops.ingest")

# An upload is started once: a Failed or Terminated run is restarted only through rerun.
_ALREADY_STARTED = frozenset(
    {
        df.OrchestrationRuntimeStatus.Pending,
        df.OrchestrationRuntimeStatus.Running,
        df.OrchestrationRuntimeStatus.Completed,
        df.OrchestrationRuntimeStatus.ContinuedAsNew,
        df.OrchestrationRuntimeStatus.Failed,
        df.OrchestrationRuntimeStatus.Terminated,
        df.OrchestrationRuntimeStatus.Suspended,
    }
)


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_landing_blob_created(
    event: func.EventGridEvent, client: df.DurableOrchestrationClient
) -> None:
    """Start ``ingest`` for a finished manifest write in landing, at most once per upload prefix."""
    try:
        event_body = event_grid_payload(event)
        prefix = landing_upload_prefix(parse_blob_event(event_body), landing_container())
    except DataOpsError:
        log.exception("rejected storage event %s (subject %s)", event.id, event.subject)
        raise
    if prefix is None:
        return
    instance_id = instance_id_for("ingest", prefix)
    status = await client.get_status(instance_id)
    if status is not None and status.runtime_status in _ALREADY_STARTED:
        log.info(
            "duplicate event %s for upload %s: instance %s is %s",
            event.id,
            prefix,
            instance_id,
            status.runtime_status,
        )
        return
    await client.start_new("ingest", instance_id, ingest_start_input(prefix))
    log.info("started ingest %s for upload %s (event %s)", instance_id, prefix, event.id)


@bp.orchestration_trigger(context_name="context")
def ingest(context: df.DurableOrchestrationContext) -> Any:
    """Landing -> raw + archive; see orchestrators/ingest.py."""
    return (yield from ingest_orchestrator(context))


register_activities(bp, ingest_activities)
