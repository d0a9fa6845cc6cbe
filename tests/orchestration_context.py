"""A stand-in for the Durable orchestration context that records what an orchestrator asks of it.

Orchestrators are generators: a test drives one with ``next``/``send``/``throw``, and each
yielded ``call_activity`` comes back as ``(activity name, payload)`` so the test can assert it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RecordingContext"]


class RecordingContext:
    """The few orchestration-context calls the orchestrators make, recorded."""

    def __init__(self, params: dict[str, Any], *, instance_id: str = "instance-abc") -> None:
        self.params = params
        self.instance_id = instance_id
        self.statuses: list[dict[str, Any]] = []

    def get_input(self) -> dict[str, Any]:
        return self.params

    def new_uuid(self) -> str:
        return "sync-uuid"

    def set_custom_status(self, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    def call_activity(self, name: str, payload: dict[str, Any]) -> Any:
        return (name, payload)
