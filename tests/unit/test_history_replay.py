"""Histories recorded from end-to-end runs replay against the current orchestrator code.

``tests/data/histories/*.json`` come from ``python -m tests.record_histories`` (devhost's
durable store after real ingest runs). An instance in flight when the app is upgraded is
replayed by the new code over its old history; if the new code schedules other work at any
point (another activity, an extra timer, a wave split differently), Durable fails the instance
as non-deterministic. These tests replay every recorded instance, cut after each of its
recorded passes and in full, through the Durable SDK (``devhost.durable.replay``), and require
the same actions in the same order and, in full, the same result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devhost.durable.history import ActionType, EventType
from devhost.durable.replay import ReplayResult, replay
from orchestrators.ingest import ingest_orchestrator
from orchestrators.ingest_waves import ingest_files_orchestrator

HISTORIES = Path(__file__).resolve().parents[1] / "data" / "histories"

# The orchestration functions function_app registers, by name (each wrapper only delegates).
ORCHESTRATORS: dict[str, Callable[..., Any]] = {
    "ingest": ingest_orchestrator,
    "ingest_files": ingest_files_orchestrator,
}
_SCHEDULED = {
    EventType.TASK_SCHEDULED: "activity",
    EventType.SUB_ORCHESTRATION_CREATED: "sub-orchestration",
    EventType.TIMER_CREATED: "timer",
}
_ACTIONS = {
    ActionType.CALL_ACTIVITY: "activity",
    ActionType.CALL_SUB_ORCHESTRATOR: "sub-orchestration",
    ActionType.CREATE_TIMER: "timer",
}
_ENDS = (EventType.EXECUTION_COMPLETED, EventType.EXECUTION_FAILED)


def recorded_instances() -> list[Any]:
    return [
        pytest.param(item, id=f"{path.stem}:{item['name']}:{item['instance_id']}")
        for path in sorted(HISTORIES.glob("*.json"))
        for item in json.loads(path.read_text())["instances"]
    ]


def scheduled(history: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """What the recorded code scheduled, in order: (kind, name); timers have no name."""
    return [
        (kind, None if kind == "timer" else event.get("Name"))
        for event in history
        if (kind := _SCHEDULED.get(EventType(event["EventType"]))) is not None
    ]


def decided(result: ReplayResult) -> list[tuple[str, str | None]]:
    out = []
    for action in result.actions:
        kind = _ACTIONS.get(ActionType(action["actionType"]), f"action {action['actionType']}")
        out.append((kind, None if kind == "timer" else action.get("functionName")))
    return out


def replay_until(item: dict[str, Any], history: list[dict[str, Any]]) -> ReplayResult:
    handle = SimpleNamespace(orchestrator_function=ORCHESTRATORS[item["name"]])
    return replay(
        handle,
        instance_id=item["instance_id"],
        history=[{**event, "IsPlayed": True} for event in history],
        input_json=item["input"],
        parent_instance_id=item["parent_instance_id"],
    )


def test_the_recordings_cover_inline_waves_and_failure() -> None:
    """The set this regression relies on is there (a deleted file would pass silently)."""
    names = {path.stem for path in HISTORIES.glob("*.json")}
    assert {"ingest_small", "ingest_waves", "ingest_checksum_failure"} <= names
    waves = json.loads((HISTORIES / "ingest_waves.json").read_text())["instances"]
    assert sum(item["name"] == "ingest_files" for item in waves) >= 2


@pytest.mark.parametrize("item", recorded_instances())
def test_every_recorded_pass_replays_to_the_same_actions(item: dict[str, Any]) -> None:
    """Cut after each recorded pass (an instance in flight at that moment), the current code
    schedules exactly what the recorded code had scheduled up to there, in order."""
    history: list[dict[str, Any]] = item["history"]
    expected = scheduled(history)
    cuts = [
        i + 1 for i, e in enumerate(history) if e["EventType"] == EventType.ORCHESTRATOR_COMPLETED
    ]
    assert cuts, "a recorded history has at least one finished pass"
    for cut in cuts[:-1]:
        result = replay_until(item, history[:cut])
        assert result.error is None, f"pass ending at event {cut}: {result.error}"
        now = decided(result)
        assert now == expected[: len(now)], f"pass ending at event {cut}"
        assert len(now) == len(scheduled(history[:cut])), f"pass ending at event {cut}"


@pytest.mark.parametrize("item", recorded_instances())
def test_a_recorded_instance_replays_in_full_to_its_recorded_end(item: dict[str, Any]) -> None:
    """Over its whole history the current code ends the same way: same output, or the same
    failure, having scheduled nothing the recorded code did not."""
    history: list[dict[str, Any]] = [
        e for e in item["history"] if EventType(e["EventType"]) not in _ENDS
    ]
    result = replay_until(item, history)
    assert result.done
    assert decided(result) == scheduled(history)
    if item["status"] == "Completed":
        assert result.error is None, result.error
        assert result.output == json.loads(item["output"])
    else:
        assert item["status"] == "Failed"
        recorded_reason = (item["error"] or "").splitlines()[0]
        assert result.error is not None and recorded_reason in result.error
