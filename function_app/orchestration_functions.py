"""Registers an orchestrator of ``orchestrators`` as the orchestration function of its name.

Every wiring module registers its orchestrations through :func:`register_orchestration`, so the
trigger, the function's name and the telemetry ids around its steps are done one way.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import azure.durable_functions as df

from orchestrators.telemetry import with_telemetry_ids

__all__ = ["Orchestrator", "register_orchestration"]

Orchestrator = Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]]


def register_orchestration(
    bp: df.Blueprint,
    name: str,
    orchestrator: Orchestrator,
    doc: str,
    *,
    telemetry_ids: bool = True,
) -> None:
    """Register ``orchestrator`` on ``bp`` as the orchestration ``name`` (what starters call).

    With ``telemetry_ids`` its ids are bound around each of its steps
    (:func:`orchestrators.telemetry.with_telemetry_ids`).
    """

    def orchestration(context: df.DurableOrchestrationContext) -> Any:
        run = orchestrator(context)
        return (yield from with_telemetry_ids(context, name, run) if telemetry_ids else run)

    # The trigger names the function after it: the name starters and the history use.
    orchestration.__name__ = orchestration.__qualname__ = name
    orchestration.__doc__ = doc
    bp.orchestration_trigger(context_name="context")(orchestration)
