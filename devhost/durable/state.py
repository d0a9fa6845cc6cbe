"""The engine's bookkeeping for one instance, typed, and the outcome of scheduling an action.

Stored as JSON in the ``instances.state`` column; :meth:`EngineState.to_json` writes the same
shape the engine always wrote (actions as ``[kind, name, task_id]`` lists, open tasks and retry
groups as objects), so a state database from an earlier devhost loads unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ContinueAsNew", "EngineState", "OpenTask", "RetryGroup", "Scheduled", "ScheduledAction"]


@dataclass
class ScheduledAction:
    """One action the orchestrator returned, in order: what replay must return again."""

    kind: str  # activity, suborch, timer, event or continue
    name: str | None
    task_id: int | None

    def to_json(self) -> list[Any]:
        return [self.kind, self.name, self.task_id]

    @classmethod
    def from_json(cls, value: list[Any]) -> ScheduledAction:
        kind, name, task_id = value
        return cls(str(kind), name, None if task_id is None else int(task_id))


@dataclass
class OpenTask:
    """A task the SDK waits on: an activity, sub-orchestration, timer or retry timer."""

    kind: str
    name: str | None
    group: str | None  # the retry group of a with-retry call, else None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "group": self.group}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> OpenTask:
        return cls(str(value["kind"]), value.get("name"), value.get("group"))


@dataclass
class RetryGroup:
    """The attempts of one ``call_*_with_retry`` action, as the extension tracks them."""

    kind: str
    name: str | None
    input: str | None
    instance_id: str | None
    first_ms: int
    max: int
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RetryGroup:
        return cls(
            kind=str(value["kind"]),
            name=value.get("name"),
            input=value.get("input"),
            instance_id=value.get("instance_id"),
            first_ms=int(value["first_ms"]),
            max=int(value["max"]),
            attempts=int(value["attempts"]),
        )


@dataclass
class EngineState:
    """Task ids handed out, actions seen, what is open, external events waited and raised."""

    next_id: int = 0
    actions: list[ScheduledAction] = field(default_factory=list)
    open: dict[str, OpenTask] = field(default_factory=dict)
    waits: dict[str, int] = field(default_factory=dict)
    raised: dict[str, int] = field(default_factory=dict)
    groups: dict[str, RetryGroup] = field(default_factory=dict)

    def take_id(self) -> int:
        """The next task id (the SDK numbers its tasks the same way)."""
        value = self.next_id
        self.next_id += 1
        return value

    def open_ids(self) -> frozenset[int | str]:
        """Open task ids, and the names of external events still awaited."""
        ids: set[int | str] = {int(key) for key in self.open}
        ids.update(name for name, count in self.waits.items() if count > self.raised.get(name, 0))
        return frozenset(ids)

    def to_json(self) -> dict[str, Any]:
        return {
            "next_id": self.next_id,
            "actions": [action.to_json() for action in self.actions],
            "open": {key: task.to_json() for key, task in self.open.items()},
            "waits": dict(self.waits),
            "raised": dict(self.raised),
            "groups": {key: group.to_json() for key, group in self.groups.items()},
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> EngineState:
        return cls(
            next_id=int(value.get("next_id", 0)),
            actions=[ScheduledAction.from_json(a) for a in value.get("actions", [])],
            open={k: OpenTask.from_json(v) for k, v in value.get("open", {}).items()},
            waits={k: int(v) for k, v in value.get("waits", {}).items()},
            raised={k: int(v) for k, v in value.get("raised", {}).items()},
            groups={k: RetryGroup.from_json(v) for k, v in value.get("groups", {}).items()},
        )


@dataclass(frozen=True)
class ContinueAsNew:
    """The orchestrator asked to start over with ``input``."""

    input: str | None


@dataclass(frozen=True)
class Scheduled:
    """What scheduling one action led to: nothing special, a failure, or continue-as-new."""

    failure: str | None = None
    continue_as_new: ContinueAsNew | None = None
