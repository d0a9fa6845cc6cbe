"""Labeling export wiring: the ``label_export`` orchestration and its activities.

Logic lives in ``dataops.labeling`` (export_steps) and ``orchestrators.label_export``. Starting,
reading and revoking an export are routes of ``dataops/api/routes.py`` (handlers in
``dataops/api/starters.py`` and ``handlers.py``), served by ``function_app/http.py``.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df

from activities import labeling_export as export_activities
from function_app.activity_functions import register_activities
from function_app.orchestration_functions import register_orchestration
from orchestrators.label_export import label_export_orchestrator

__all__ = ["bp"]

bp = df.Blueprint()
log = logging.getLogger("avops.labeling")


register_orchestration(
    bp,
    "label_export",
    label_export_orchestrator,
    "Plan, copy in chunks, write the label files; see orchestrators/label_export.py.",
)


register_activities(bp, export_activities)
