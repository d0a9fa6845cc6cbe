"""The engine's typed state reads and writes the JSON shape earlier devhost versions stored."""

from __future__ import annotations

from typing import Any

from devhost.durable.state import EngineState, OpenTask

# A state column as the dict-based engine wrote it: an activity with retry open, a retry
# group, a timer, an external event awaited twice and raised once.
STORED: dict[str, Any] = {
    "next_id": 3,
    "actions": [["activity", "flaky", 0], ["timer", None, 1], ["event", "approve", None]],
    "open": {
        "0": {"kind": "activity", "name": "flaky", "group": "0"},
        "2": {"kind": "retry_timer", "name": None, "group": "0"},
    },
    "waits": {"approve": 2},
    "raised": {"approve": 1},
    "groups": {
        "0": {
            "kind": "activity",
            "name": "flaky",
            "input": '{"n": 1}',
            "instance_id": None,
            "first_ms": 1000,
            "max": 3,
            "attempts": 2,
        }
    },
}


def test_stored_state_round_trips_unchanged() -> None:
    state = EngineState.from_json(STORED)
    assert state.to_json() == STORED
    assert state.groups["0"].attempts == 2
    assert state.open["2"] == OpenTask("retry_timer", None, "0")


def test_open_ids_are_open_tasks_plus_events_still_awaited() -> None:
    """What the engine compares with the SDK's open tasks after every pass."""
    assert EngineState.from_json(STORED).open_ids() == frozenset({0, 2, "approve"})


def test_task_ids_are_handed_out_in_order() -> None:
    state = EngineState()
    assert [state.take_id(), state.take_id()] == [0, 1]
    assert state.to_json()["next_id"] == 2
