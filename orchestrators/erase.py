"""Orchestrator ``erase``: blobs, batch pool, store, then the record; see docs/erasure.md.

Started by ``POST /vehicles/{vehicle_id}/erase`` or ``POST /measurements/{id}/erase`` after the
starter tombstoned the target and purged the histories of its runs. Its input and every
activity's input and output hold the erasure id and counts only, so this run's own history
names nobody. Deterministic: only context calls. The store goes last: every step reads the
plan from it. A failure (a WORM-locked blob) marks the record failed and fails the instance;
the pending target stays, so a new request resumes where this one stopped.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts import erasure as contracts
from orchestrators.calls import call, report_failure

__all__ = ["ErasureFailedError", "erase_orchestrator"]


class ErasureFailedError(Exception):
    """Raised after the record says failed, so the instance ends Failed too."""


def erase_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Run the deletion steps in order; the output is the record's counts."""
    params: dict[str, Any] = context.get_input() or {}
    args = contracts.ErasureInput(erasure_id=str(params.get("erasure_id", "")))
    try:
        for stage, contract in (
            ("blobs", contracts.ERASE_BLOBS),
            ("batch_pool", contracts.ERASE_POOL),
            ("store", contracts.ERASE_STORE),
        ):
            context.set_custom_status({"stage": stage})
            yield from call(context, contract, args)
        context.set_custom_status({"stage": "record"})
        counts = yield from call(context, contracts.ERASE_FINISH, args)
    except Exception as err:
        reason = yield from report_failure(
            context, err, contracts.ERASE_FAIL, {}, erasure_id=args.erasure_id
        )
        raise ErasureFailedError(f"erasure failed: {reason}") from err
    context.set_custom_status({"stage": "completed"})
    return {"erasure_id": args.erasure_id, "counts": counts.model_dump(mode="json")}
