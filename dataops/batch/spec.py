"""What a batch job is (JobSpec) and what a backend reports about it (JobStatus).

Both backends take the same JobSpec and report the same JobStatus, so an orchestrator never
knows which one runs its tasks. Every model round-trips through plain JSON dicts, the only
thing that may cross the Durable boundary.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dataops.config_files import validated
from dataops.errors import InvalidInputError

__all__ = [
    "MAX_ID_LENGTH",
    "ZONE_PLACEHOLDER",
    "JobLabels",
    "JobSpec",
    "JobState",
    "JobStatus",
    "ResourceHints",
    "TaskSpec",
    "TaskState",
    "TaskStatus",
    "derive_job_id",
    "derive_job_state",
    "resolve_zones",
]

# Azure Batch job and task ids: letters, digits, '-' and '_', at most 64 characters. The local
# pool takes the same rule, so an id that works locally works in Azure.
MAX_ID_LENGTH = 64
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# "{zone:raw}" inside an argument stands for the root of that zone as the backend reaches it
# (a local directory, an Azurite container URL, an NFS mount, a blob container URL).
ZONE_PLACEHOLDER = re.compile(r"\{zone:([a-z]+)\}")
MAX_RETRIES_LIMIT = 10
_M = TypeVar("_M", bound=BaseModel)


def _check_id(value: str, field: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(f"{field} {value!r} must be 1-{MAX_ID_LENGTH} letters, digits, '-' or '_'")
    return value


def derive_job_id(kind: str, *parts: str) -> str:
    """A deterministic, valid job id from any key parts (same parts, same id)."""
    _check_id(kind, "kind")
    digest = hashlib.sha256("\x00".join([kind, *parts]).encode()).hexdigest()
    return f"{kind}-{digest}"[:MAX_ID_LENGTH]


class ResourceHints(BaseModel):
    """What a task needs; each backend maps what it can (see docs/batch.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slots: int = Field(default=1, ge=1, le=64, description="Scheduling slots the task occupies.")
    max_wall_clock_s: int | None = Field(
        default=None, ge=1, description="Kill an attempt that runs longer (counts as retryable)."
    )


class TaskSpec(BaseModel):
    """One task: an argv (never a shell string), its dependencies and its retry budget."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    command: list[str] = Field(min_length=1)
    depends_on: list[str] = Field(default_factory=list)
    max_retries: int = Field(default=2, ge=0, le=MAX_RETRIES_LIMIT)
    env: dict[str, str] = Field(default_factory=dict)
    resources: ResourceHints = Field(default_factory=ResourceHints)

    @field_validator("task_id")
    @classmethod
    def _task_id(cls, value: str) -> str:
        return _check_id(value, "task_id")

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        # A NUL cannot pass through exec; refusing it here beats a confusing launch failure.
        if value[0] == "":
            raise ValueError("the program (first argument) must not be empty")
        if any("\x00" in arg for arg in value):
            raise ValueError("command arguments must not contain NUL")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            if not _ENV_NAME.fullmatch(name) or "\x00" in item:
                raise ValueError(f"bad environment variable {name!r}")
        return value


class JobLabels(BaseModel):
    """The ids every log line and every job carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measurement_id: str | None = None
    datastream_id: str | None = None
    instance_id: str | None = None


class JobSpec(BaseModel):
    """A job: tasks forming a DAG, with a deterministic id so a resubmit is recognised."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    pool: str | None = Field(default=None, description="Pool hint; None: the backend's default.")
    tasks: list[TaskSpec] = Field(min_length=1)
    labels: JobLabels = Field(default_factory=JobLabels)

    @field_validator("job_id")
    @classmethod
    def _job_id(cls, value: str) -> str:
        return _check_id(value, "job_id")

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: str | None) -> str | None:
        return None if value is None else _check_id(value, "pool")

    @model_validator(mode="after")
    def _dag(self) -> Self:
        ids = [task.task_id for task in self.tasks]
        # Batch ids are case-insensitive: "a" and "A" would collide there.
        if len({task_id.lower() for task_id in ids}) != len(ids):
            raise ValueError("task ids must be unique (case-insensitively)")
        known = set(ids)
        for task in self.tasks:
            missing = [dep for dep in task.depends_on if dep not in known]
            if missing:
                raise ValueError(f"task {task.task_id!r} depends on unknown tasks {missing}")
            if task.task_id in task.depends_on:
                raise ValueError(f"task {task.task_id!r} depends on itself")
        self.topological_order()
        return self

    def task(self, task_id: str) -> TaskSpec:
        """The task with this id (KeyError if absent)."""
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise KeyError(task_id)

    def topological_order(self) -> list[str]:
        """Task ids, each after all of its dependencies; ValueError on a cycle."""
        deps = {task.task_id: set(task.depends_on) for task in self.tasks}
        order: list[str] = []
        done: set[str] = set()
        while len(order) < len(deps):
            ready = [tid for tid in deps if tid not in done and deps[tid] <= done]
            if not ready:
                raise ValueError("task dependencies form a cycle")
            order.extend(ready)
            done.update(ready)
        return order

    def dependents(self, task_id: str) -> set[str]:
        """Every task that depends on ``task_id``, directly or through others."""
        found: set[str] = set()
        frontier = {task_id}
        while frontier:
            frontier = {
                task.task_id
                for task in self.tasks
                if frontier & set(task.depends_on) and task.task_id not in found
            }
            found |= frontier
        return found

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        """Validate a plain dict; a bad spec is InvalidInputError naming the field."""
        return validated(cls, data, source="job spec")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return self.model_dump(mode="json")


def resolve_zones(argument: str, zone_roots: dict[str, str]) -> str:
    """Replace ``{zone:NAME}`` with the backend's root of that zone; unknown zone: error."""

    def _root(match: re.Match[str]) -> str:
        zone = match.group(1)
        if zone not in zone_roots:
            raise InvalidInputError(
                f"zone {zone!r} is not reachable from this batch backend", field="command"
            )
        return zone_roots[zone].rstrip("/")

    return ZONE_PLACEHOLDER.sub(_root, argument)


class TaskState(StrEnum):
    """Where a task is; SUCCEEDED, FAILED, BLOCKED and CANCELED are final."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"
    CANCELED = "CANCELED"

    @property
    def final(self) -> bool:
        """No further change will happen."""
        return self not in (TaskState.PENDING, TaskState.RUNNING)


class JobState(StrEnum):
    """ACTIVE until every task is final; then COMPLETED (all succeeded) or FAILED."""

    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class TaskStatus(BaseModel):
    """A task as the backend sees it now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: TaskState
    exit_code: int | None = None
    retries: int = Field(default=0, ge=0, description="Attempts after the first one.")
    reason: str | None = Field(default=None, description="Why it FAILED, BLOCKED or CANCELED.")
    log_location: str | None = Field(default=None, description="Log file path or URL.")
    started_at: datetime | None = None
    ended_at: datetime | None = None


def derive_job_state(tasks: dict[str, TaskStatus], *, canceled: bool) -> JobState:
    """The one rule for a job's state from its tasks, shared by both backends."""
    if canceled:
        return JobState.CANCELED
    if any(not status.state.final for status in tasks.values()):
        return JobState.ACTIVE
    if all(status.state is TaskState.SUCCEEDED for status in tasks.values()):
        return JobState.COMPLETED
    return JobState.FAILED


class JobStatus(BaseModel):
    """A job and each of its tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    state: JobState
    tasks: dict[str, TaskStatus]

    @property
    def done(self) -> bool:
        """Nothing will change any more (COMPLETED, FAILED or CANCELED)."""
        return self.state is not JobState.ACTIVE

    @property
    def failed(self) -> bool:
        """Done without every task succeeding (FAILED or CANCELED)."""
        return self.state in (JobState.FAILED, JobState.CANCELED)

    def failed_tasks(self) -> dict[str, TaskStatus]:
        """Tasks that FAILED, with their reasons."""
        return {tid: s for tid, s in self.tasks.items() if s.state is TaskState.FAILED}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobStatus:
        """Validate a plain dict (e.g. an activity result read back by an orchestrator)."""
        return validated(cls, data, source="job status")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return self.model_dump(mode="json")
