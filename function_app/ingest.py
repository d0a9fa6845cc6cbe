"""Ingest wiring: the landing Event Grid trigger, the ``ingest`` orchestrator and its activities."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from activities import ingest as ingest_activities
from activities.runtime import blob_zones, ingest_start_input, landing_container, settings
from dataops.errors import DataOpsError, NotFoundError
from dataops.events import (
    check_event_etag,
    landing_accounts,
    manifest_event_prefix,
    parse_blob_event,
)
from dataops.ids import instance_id_for
from dataops.models import MANIFEST_NAME
from dataops.paths import Zone
from dataops.telemetry import learned_ids
from function_app.activity_functions import register_activities
from function_app.events import event_grid_payload
from function_app.orchestration_functions import register_orchestration
from function_app.telemetry import traced_trigger
from orchestrators.ingest import ingest_orchestrator
from orchestrators.ingest_waves import ingest_files_orchestrator

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


def _current_manifest_etag(prefix: str) -> str | None:
    """The landing manifest's eTag now, or None when it is gone."""
    try:
        return blob_zones().get_info(Zone.LANDING, f"{prefix}/{MANIFEST_NAME}").etag
    except NotFoundError:
        return None


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
@traced_trigger
async def on_landing_blob_created(
    event: func.EventGridEvent, client: df.DurableOrchestrationClient
) -> None:
    """Start ``ingest`` for a finished manifest write in landing, at most once per upload prefix.

    A forged event (another account's topic, a url that is not its subject) or a stale one
    (its eTag is not the manifest's current one) raises: Event Grid dead-letters it, and no
    run exists that could block the prefix. A duplicate delivered after the run deleted the
    manifest from landing is stale too, and dead-lettered harmlessly.
    """
    try:
        blob_event = parse_blob_event(event_grid_payload(event))
        prefix = manifest_event_prefix(
            blob_event, landing_container(), landing_accounts(settings())
        )
        if prefix is None:
            return
        etag = check_event_etag(blob_event, _current_manifest_etag(prefix))
    except DataOpsError:
        log.exception("rejected storage event %s (subject %s)", event.id, event.subject)
        raise
    instance_id = instance_id_for("ingest", prefix)
    with learned_ids(instance_id=instance_id):
        await _start_once(client, event, prefix, instance_id, etag)


async def _start_once(
    client: df.DurableOrchestrationClient,
    event: func.EventGridEvent,
    prefix: str,
    instance_id: str,
    etag: str,
) -> None:
    """Start the upload's ingest unless an instance for it already exists."""
    status = await client.get_status(instance_id)
    if status is not None and status.runtime_status in _ALREADY_STARTED:
        if _is_reupload(status, etag):
            # Not started here: a rerun restores the manifest (a new etag) and then starts the
            # run itself; starting on its event would race it. The reconciler starts re-uploads.
            log.warning(
                "re-upload %s of upload %s (manifest etag %s): instance %s is %s; the "
                "reconciler starts a new run once the manifest is older than its threshold",
                event.id,
                prefix,
                etag,
                instance_id,
                status.runtime_status,
            )
            return
        log.info(
            "duplicate event %s for upload %s: instance %s is %s",
            event.id,
            prefix,
            instance_id,
            status.runtime_status,
        )
        return
    await client.start_new("ingest", instance_id, ingest_start_input(prefix, event_etag=etag))
    log.info("started ingest %s for upload %s (event %s)", instance_id, prefix, event.id)


def _is_reupload(status: df.DurableOrchestrationStatus, manifest_etag: str | None) -> bool:
    """A finished run that reported another manifest etag than this event's."""
    custom = status.custom_status
    reported = custom.get("manifest_etag") if isinstance(custom, dict) else None
    return (
        status.runtime_status
        in (
            df.OrchestrationRuntimeStatus.Completed,
            df.OrchestrationRuntimeStatus.Failed,
            df.OrchestrationRuntimeStatus.Terminated,
        )
        and manifest_etag is not None
        and reported is not None
        and reported.strip('"') != manifest_etag.strip('"')
    )


register_orchestration(
    bp, "ingest", ingest_orchestrator, "Landing -> raw + archive; see orchestrators/ingest.py."
)


register_orchestration(
    bp,
    "ingest_files",
    ingest_files_orchestrator,
    "One wave of a large upload's files (hash or copy); see orchestrators/ingest_waves.py.",
)


register_activities(bp, ingest_activities)
