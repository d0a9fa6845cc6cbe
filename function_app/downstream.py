"""Downstream wiring: the datastreams change-feed consumer and the steps it starts.

The consumer starts every step of the chain (EXTRACTED -> synchronize, SYNCHRONIZED -> enrich,
ENRICHED -> detect_scenes); each step's orchestration and activities are registered here too.

The consumer only reads its batch and starts orchestrations (routing and the start-once guard
in ``dataops.downstream``, which the dead-letter redrive uses too); it never writes the
documents that triggered it, so it cannot retrigger itself. Logic lives in
``dataops.synchronization``, ``dataops.enrichment`` and ``dataops.scenes`` (through
``activities.synchronization`` / ``activities.enrichment`` / ``activities.scenes``) and
``orchestrators.derived_step``.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities import enrichment as enrichment_activities
from activities import runtime
from activities import scenes as scene_activities
from activities import synchronization as synchronization_activities
from dataops.activity_contracts.steps import DETECT_SCENES, ENRICH, SYNCHRONIZE
from dataops.dead_letters import record_dead_letter
from dataops.downstream import plan_downstream, start_once
from dataops.telemetry import bind_ids
from function_app.activity_functions import register_activities
from function_app.durable import DurableRunControl
from function_app.orchestration_functions import register_orchestration
from function_app.telemetry import traced_trigger
from orchestrators.derived_step import derived_step

__all__ = ["bp"]

bp = df.Blueprint()
log = logging.getLogger("avops.downstream")

# In Azure a Cosmos DB trigger is retried only by the function's own policy, and after the
# last failed attempt its lease moves on: the batch is gone. So the policy is declared here
# (devhost applies the same one) and the last attempt writes a dead letter first.
CHANGE_FEED_RETRIES = 8


@bp.cosmos_db_trigger(
    arg_name="documents",
    database_name="%AVOPS_COSMOS_DATABASE%",
    container_name="datastreams",
    connection="AVOPS_COSMOS",
    lease_container_name="leases",
    # infra creates the leases container: the app's identity has a data-plane role only, and
    # creating a container is a control-plane operation it may not do.
    create_lease_container_if_not_exists=False,
    # The extension polls an idle feed every 5 s by default; a drive's next step should start
    # within a second of its datastream changing (docs/capacity.md: one read per second per
    # lease is far below any RU budget).
    feed_poll_delay=1000,
)
@bp.retry(
    strategy="exponential_backoff",
    max_retry_count=str(CHANGE_FEED_RETRIES),
    minimum_interval="00:00:05",
    maximum_interval="00:05:00",
)
@bp.durable_client_input(client_name="client")
@traced_trigger
async def on_datastream_changed(
    documents: func.DocumentList, client: df.DurableOrchestrationClient, context: func.Context
) -> None:
    """Start the downstream step of each COMPLETED datastream, once per source datastream.

    A document that is no datastream fails the batch after the others started: the host
    retries the batch (the started steps are found and not started again); the last attempt
    records a dead letter in the error zone (dataops.dead_letters) before it fails.
    """
    batch = [document.to_dict() for document in documents]
    try:
        await _start_downstream(batch, client)
    except Exception as err:
        if _last_attempt(context):
            _dead_letter(batch, err, context)
        raise


def _last_attempt(context: func.Context) -> bool:
    """Whether no retry follows this call (retry_count counts from 0; -1 retries forever)."""
    retry = getattr(context, "retry_context", None)
    if retry is None:
        return True
    limit = int(retry.max_retry_count)
    return limit >= 0 and int(retry.retry_count) >= limit


def _dead_letter(batch: list[dict[str, Any]], err: Exception, context: func.Context) -> None:
    retry = getattr(context, "retry_context", None)
    attempts = 1 if retry is None else int(retry.retry_count) + 1
    reason = f"{type(err).__name__}: {err}"
    try:
        path = record_dead_letter(
            runtime.blob_zones(),
            function="on_datastream_changed",
            documents=batch,
            reason=reason,
            attempts=attempts,
        )
    except Exception:
        # The batch's own error is raised next; this one only says the record is missing.
        log.exception("change feed: the dead letter of %d documents was not written", len(batch))
        return
    log.error(
        "change feed: %d documents dead-lettered after %d attempts to %s: %s",
        len(batch),
        attempts,
        path,
        reason,
    )


async def _start_downstream(
    batch: list[dict[str, Any]], client: df.DurableOrchestrationClient
) -> None:
    plan = plan_downstream(batch)
    control = DurableRunControl(client)
    for start in plan.starts:
        with bind_ids(
            measurement_id=start.input.get("measurement_id"),
            datastream_id=start.input.get("source_datastream_id"),
            instance_id=start.instance_id,
        ):
            await start_once(control, start)
    plan.raise_errors()


# One orchestrator serves every step, told apart by its contracts (orchestrators/derived_step.py).
for _step, _doc in (
    (SYNCHRONIZE, "EXTRACTED -> SYNCHRONIZED."),
    (ENRICH, "SYNCHRONIZED -> ENRICHED."),
    (DETECT_SCENES, "ENRICHED -> SCENES."),
):
    register_orchestration(bp, _step.step, partial(derived_step, step=_step), _doc)

register_activities(bp, synchronization_activities)
register_activities(bp, enrichment_activities)
register_activities(bp, scene_activities)
