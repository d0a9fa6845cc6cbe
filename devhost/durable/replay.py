"""One replay pass: hand the history to the DF SDK as the extension would, read its decision."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.history import HistoryEvent
from azure.durable_functions.orchestrator import Orchestrator

from devhost.durable.history import ActionType, EventType

__all__ = ["OUT_OF_PROC_MARKER", "ReplayResult", "flatten_actions", "parse_events", "replay"]

log = logging.getLogger(__name__)

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


@dataclass
class ReplayResult:
    """What the orchestrator decided in this pass."""

    done: bool
    actions: list[dict[str, Any]]
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    # Keys of tasks the SDK still has open: integer task ids and external event names.
    open_ids: set[int | str] = field(default_factory=set)


def flatten_actions(actions: list[Any]) -> list[dict[str, Any]]:
    """Flatten the SDK's list of lists (with WhenAll/WhenAny compounds) in SDK order."""
    out: list[dict[str, Any]] = []

    def walk(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            elif item.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
                walk(item.get("compoundActions", []))
            else:
                out.append(item)

    walk(actions)
    return out


def _open_ids(context: DurableOrchestrationContext) -> set[int | str]:
    ids: set[int | str] = set()
    for key, value in context.open_tasks.items():
        # open_tasks is a defaultdict(list): lookups leave empty lists behind.
        if isinstance(value, list) and not value:
            continue
        ids.add(key)
    return ids


def parse_events(events: list[dict[str, Any]]) -> list[HistoryEvent]:
    """The SDK's objects for ``events``: its parser reads every timestamp with dateutil, which
    is most of a replay's cost, so the engine keeps these for the events already replayed."""
    return [HistoryEvent(**event) for event in events]


def _context_seed(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events the context's constructor reads: the first OrchestratorStarted (the start
    time) and the first ExecutionStarted (the version), in history order."""
    wanted = {int(EventType.ORCHESTRATOR_STARTED), int(EventType.EXECUTION_STARTED)}
    seed: list[dict[str, Any]] = []
    for event in history:
        if event["EventType"] in wanted:
            wanted.discard(event["EventType"])
            seed.append(event)
            if not wanted:
                break
    return seed


def replay(
    orchestrator_handle: Callable[..., Any],
    *,
    instance_id: str,
    history: list[dict[str, Any]],
    input_json: str | None,
    parent_instance_id: str | None,
    parsed: list[HistoryEvent] | None = None,
) -> ReplayResult:
    """Run the user generator over ``history`` through the SDK's Orchestrator.

    ``parsed`` is ``history`` already turned into the SDK's event objects (by
    :func:`parse_events`, event for event); the context is then built from the two events its
    constructor reads and given ``parsed`` as its history, so no event is parsed again.
    """
    fn = orchestrator_handle.orchestrator_function  # type: ignore[attr-defined]
    body = {
        "history": history if parsed is None else _context_seed(history),
        "instanceId": instance_id,
        "isReplaying": False,
        "parentInstanceId": parent_instance_id,
        "input": input_json,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    context = DurableOrchestrationContext(**body)
    if parsed is not None:
        if len(parsed) != len(history):
            raise ValueError(f"{len(parsed)} parsed events for a history of {len(history)}")
        # The one attribute the SDK's executor reads the history from (context.histories).
        context._histories = parsed
    # The worker's handle propagates the decorator's input type the same way.
    context._input_expected_type = getattr(orchestrator_handle, "_df_input_type", None)
    try:
        state_text = Orchestrator(fn).handle(context)
    except Exception as err:  # noqa: BLE001 - the SDK's only channel for a failed orchestrator
        message = str(err)
        error_text, marker, state_json = message.partition(OUT_OF_PROC_MARKER)
        if not marker:
            return ReplayResult(
                done=True,
                actions=[],
                error=f"{type(err).__name__}: {message}",
                open_ids=_open_ids(context),
            )
        state = json.loads(state_json)
        return ReplayResult(
            done=True,
            actions=flatten_actions(state.get("actions", [])),
            error=error_text or state.get("error") or type(err).__name__,
            custom_status=state.get("customStatus"),
            open_ids=_open_ids(context),
        )
    state = json.loads(state_text)
    return ReplayResult(
        done=bool(state.get("isDone")),
        actions=flatten_actions(state.get("actions", [])),
        output=state.get("output"),
        custom_status=state.get("customStatus"),
        open_ids=_open_ids(context),
    )
