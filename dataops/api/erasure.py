"""``POST /vehicles/{vehicle_id}/erase`` and ``POST /measurements/{id}/erase``.

The starter does what needs the orchestration client before the ``erase`` run starts: it
tombstones the target (a run that starts from now on stops cleanly), refuses while a run of
the target is active (409), purges the histories of the target's finished runs (inputs and
outputs name its paths) and starts ``erase`` under an instance id derived from the erasure id,
so a repeated request finds the same run: running -> 202 again, done -> 200 with the record.
"""

from __future__ import annotations

import asyncio
import logging

from dataops.api.dispatch import ApiContext, Call, Reply, RunHandler
from dataops.api.models import ErasureAnswer, ErasurePreview
from dataops.api.problems import ApiError
from dataops.api.starters import run_url
from dataops.erasure.batch_jobs import job_eraser
from dataops.erasure.identity import ErasureTarget, TargetKind
from dataops.erasure.records import ErasureState
from dataops.erasure.steps import ERASE, add_counts, begin, erase_instance_id, preview

__all__ = ["ERASURE_HANDLERS", "erase_measurement", "erase_vehicle"]

log = logging.getLogger("avops.erasure")


async def erase_vehicle(context: ApiContext, call: Call) -> Reply:
    """Every measurement of the vehicle and everything made from them."""
    return await _erase(context, call, ErasureTarget(TargetKind.VEHICLE, call.ids["vehicle_id"]))


async def erase_measurement(context: ApiContext, call: Call) -> Reply:
    """One measurement and everything made from it."""
    return await _erase(context, call, ErasureTarget(TargetKind.MEASUREMENT, call.ids["id"]))


async def _erase(context: ApiContext, call: Call, target: ErasureTarget) -> Reply:
    settings = context.settings()
    if not settings.erasure_salt:
        raise ApiError(503, "erasure is not configured: AVOPS_ERASURE_SALT is empty")
    if context.runs is None or context.zones is None:
        raise ApiError(503, "orchestrations or blob storage are not available in this process")
    runs, zones, store = context.runs, context.zones(), context.store()
    erasure_id = target.erasure_id(settings.erasure_salt)
    if call.params.dry_run:

        def previewed() -> dict[str, object]:
            with job_eraser(settings) as eraser:
                return preview(zones, store, settings, target, eraser)

        found = await asyncio.to_thread(previewed)
        return Reply(
            body=ErasureAnswer(
                erasure_id=erasure_id,
                state="preview",
                preview=ErasurePreview.model_validate(found),
            ),
            status=200,
        )
    instance_id = erase_instance_id(erasure_id)
    status_url = run_url(call.origin, instance_id)

    def running(counts: dict[str, int]) -> Reply:
        # 202 with the run's status route: the erasure started now, or still runs.
        return Reply(
            body=ErasureAnswer(
                erasure_id=erasure_id,
                state=ErasureState.RUNNING.value,
                instance_id=instance_id,
                status_url=status_url,
                counts=counts,
            ),
            headers={"Location": status_url},
        )

    current = await runs.status(instance_id)
    if current is not None and current.active:
        return running({})
    via = call.caller.via if call.caller is not None else "unknown"
    record, plan = await asyncio.to_thread(begin, zones, store, settings, target, requested_by=via)
    if record.state is ErasureState.COMPLETED:
        # Already erased, nothing of it left: a no-op that shows the record.
        return Reply(
            body=ErasureAnswer(
                erasure_id=erasure_id,
                state=record.state.value,
                instance_id=record.instance_id,
                counts=record.counts,
            ),
            status=200,
        )
    purged = 0
    for run_id in plan.instance_ids():
        run = await runs.status(run_id)
        if run is not None and run.active:
            raise ApiError(
                409,
                f"run {run_id} of this {target.kind.value} is still active; it stops at its next "
                "step (the target is tombstoned): request the erasure again when it ended",
            )
        purged += await runs.purge(run_id)
    await asyncio.to_thread(add_counts, zones, erasure_id, {"runs.purged": purged})
    await runs.start(ERASE, instance_id, {"erasure_id": erasure_id})
    log.info("started erasure %s (%s)", instance_id, target.kind.value)
    return running(record.counts)


ERASURE_HANDLERS: dict[str, RunHandler] = {
    "eraseVehicle": erase_vehicle,
    "eraseMeasurement": erase_measurement,
}
