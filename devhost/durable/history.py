"""DTFx-shaped history events and orchestrator actions of the DF 1.x out-of-process protocol."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

__all__ = [
    "ActionType",
    "EventType",
    "format_time",
    "make_event",
    "parse_time",
]

# The SDK formats timer deadlines with this pattern (azure.durable_functions.constants).
_SDK_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EventType(IntEnum):
    """History event types (DurableTask.Core.History.EventType)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


class ActionType(IntEnum):
    """Actions the SDK returns (azure.durable_functions ActionType)."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


def format_time(value: datetime) -> str:
    """ISO 8601 UTC with microseconds and ``Z``, the form the SDK parses and writes."""
    return value.astimezone(UTC).strftime(_SDK_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Parse a timestamp written by :func:`format_time` or by the SDK (``fireAt``)."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def make_event(
    event_type: EventType, timestamp: datetime, event_id: int = -1, **fields: Any
) -> dict[str, Any]:
    """One history event; ``IsPlayed`` is set when the history is sent to the SDK."""
    event: dict[str, Any] = {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_time(timestamp),
    }
    event.update(fields)
    return event
