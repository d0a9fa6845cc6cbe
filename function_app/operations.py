"""Operations wiring: the reconciler (timer).

Logic lives in ``dataops.ingest.reconcile``; the Durable client reaches it as the
``RunControl`` protocol (``function_app.durable``). The HTTP operations (rerun, rehydrate,
a step's rerun) are routes of the table in ``dataops/api/routes.py``, served by
``function_app/http.py``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func

from activities import runtime
from dataops.ingest.reconcile import firing_time, reconcile
from function_app.durable import DurableRunControl
from function_app.telemetry import traced_trigger

__all__ = ["bp"]

bp = df.Blueprint()
log = logging.getLogger("avops.operations")


@bp.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
@traced_trigger
async def reconcile_ingest(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Every 5 minutes: start runs for orphaned landing manifests, terminate overdue runs."""
    if timer.past_due:
        log.info("reconciler timer is past due; running now")
    settings = runtime.settings()
    # The worker's TimerRequest has schedule_status; the abstract class azure.functions
    # declares does not.
    schedule_status = getattr(timer, "schedule_status", None)
    await reconcile(
        DurableRunControl(client),
        runtime.blob_zones(),
        runtime.metadata_store(),
        now=firing_time(schedule_status, datetime.now(UTC)),
        reconcile_after=timedelta(minutes=settings.reconcile_after_minutes),
        run_deadline=timedelta(minutes=settings.run_deadline_minutes),
        start_input=runtime.ingest_start_input,
    )
