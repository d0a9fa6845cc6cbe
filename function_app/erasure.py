"""Erasure wiring: the ``erase`` orchestration and its activities.

Starting an erasure is a route of ``dataops/api/routes.py`` (handler in
``dataops/api/erasure.py``), served by ``function_app/http.py``. Logic lives in
``dataops.erasure`` (through ``activities.erasure``) and ``orchestrators.erase``.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities import erasure as erasure_activities
from function_app.activity_functions import register_activities
from function_app.orchestration_functions import register_orchestration
from orchestrators.erase import erase_orchestrator

__all__ = ["bp"]

bp = df.Blueprint()


register_orchestration(
    bp,
    "erase",
    erase_orchestrator,
    "Blobs, batch pool, store, record; see orchestrators/erase.py.",
    # Logs outlive the erasure (docs/erasure.md): its records carry the instance id only,
    # never the ids of what it erases.
    telemetry_ids=False,
)


register_activities(bp, erasure_activities)
