"""Re-check the protocol facts of docs/devhost.md ("Protocol facts") against the installed SDKs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.durable.history import EventType, make_event
from devhost.durable.replay import replay

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _app_with_orchestrator() -> df.DFApp:
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def orch(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        first = yield context.call_activity("a", 1)
        second = yield context.task_all([context.call_activity("b", i) for i in range(2)])
        return [first, second]

    @app.activity_trigger(input_name="x")
    def a(x: int) -> int:
        return x

    return app


def _history(*events: dict[str, Any]) -> list[dict[str, Any]]:
    return list(events)


def test_get_functions_works_once_per_app_object() -> None:
    app = _app_with_orchestrator()
    assert len(app.get_functions()) == 2
    with pytest.raises(ValueError, match="unique function name"):
        app.get_functions()


def test_execution_started_needs_a_version() -> None:
    handle = next(
        f for f in _app_with_orchestrator().get_functions() if f.get_function_name() == "orch"
    ).get_user_function()
    started = make_event(EventType.ORCHESTRATOR_STARTED, T0)
    without = make_event(EventType.EXECUTION_STARTED, T0, Name="orch", Input=None)
    with pytest.raises(AttributeError):
        replay(
            handle,
            instance_id="i",
            history=[started, without],
            input_json=None,
            parent_instance_id=None,
        )
    with_version = {**without, "Version": ""}
    result = replay(
        handle,
        instance_id="i",
        history=[started, with_version],
        input_json=None,
        parent_instance_id=None,
    )
    assert [a["actionType"] for a in result.actions] == [0]
    assert result.open_ids == {0}


def test_actions_nest_when_all_and_ids_follow_yield_order() -> None:
    handle = next(
        f for f in _app_with_orchestrator().get_functions() if f.get_function_name() == "orch"
    ).get_user_function()
    history = [
        make_event(EventType.ORCHESTRATOR_STARTED, T0),
        make_event(EventType.EXECUTION_STARTED, T0, Name="orch", Input=None, Version=""),
        make_event(EventType.TASK_SCHEDULED, T0, 0, Name="a", Input="1"),
        make_event(EventType.ORCHESTRATOR_COMPLETED, T0),
        make_event(EventType.ORCHESTRATOR_STARTED, T0),
        make_event(EventType.TASK_COMPLETED, T0, TaskScheduledId=0, Result=json.dumps(1)),
    ]
    result = replay(
        handle, instance_id="i", history=history, input_json=None, parent_instance_id=None
    )
    # Flattened in SDK order: a, then the WhenAll's two children with ids 1 and 2.
    assert [(a["actionType"], a["functionName"]) for a in result.actions] == [
        (0, "a"),
        (0, "b"),
        (0, "b"),
    ]
    assert result.open_ids == {1, 2}
    assert not result.done
