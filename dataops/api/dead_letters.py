"""``GET /deadletters`` and ``POST /deadletters/{id}/redrive``: the change feed's dead letters.

Both need the write role (there is no operator role; see docs/api.md, "Dead letters"): a
record's reason is the consumer's exception text (host names, ports, internals) that read
callers such as dashboards need not see, and listing is for someone who then hands back.
"""

from __future__ import annotations

import asyncio

from dataops.api.dispatch import ApiContext, Call, Handler, Reply, RunHandler, json_reply
from dataops.api.params import DeadLetterListParams
from dataops.api.problems import ApiError
from dataops.dead_letters.listing import list_dead_letters
from dataops.dead_letters.redrive import redrive_dead_letter
from dataops.storage import BlobZones

__all__ = ["DEAD_LETTER_HANDLERS", "DEAD_LETTER_RUN_HANDLERS"]


def _zones(context: ApiContext) -> BlobZones:
    if context.zones is None:
        raise ApiError(503, "blob storage is not configured in this process")
    return context.zones()


def list_letters(context: ApiContext, call: Call) -> Reply:
    """``GET /deadletters``: pending (or handed-back) records, newest first."""
    params: DeadLetterListParams = call.params
    page = list_dead_letters(
        _zones(context),
        function=params.function,
        measurement=params.measurement,
        redriven=params.redriven,
        limit=params.limit,
        continuation=params.continuation,
    )
    return json_reply(page, headers={"Cache-Control": "no-store"})


async def redrive_letter(context: ApiContext, call: Call) -> Reply:
    """``POST /deadletters/{id}/redrive``: hand the batch back through the consumer's routing."""
    if context.runs is None:
        raise ApiError(503, "orchestrations are not available in this process")
    zones = await asyncio.to_thread(_zones, context)
    caller = call.caller
    by = "unknown" if caller is None else f"{caller.via} ({caller.role.name.lower()})"
    answer = await redrive_dead_letter(context.runs, zones, context.store(), call.ids["id"], by=by)
    return json_reply(answer, headers={"Cache-Control": "no-store"})


DEAD_LETTER_HANDLERS: dict[str, Handler] = {"listDeadLetters": list_letters}
DEAD_LETTER_RUN_HANDLERS: dict[str, RunHandler] = {"redriveDeadLetter": redrive_letter}
