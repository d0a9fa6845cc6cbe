"""A stand-in for azure.batch.BatchClient that records every call and answers as scripted.

The one mock of these tests: the Azure Batch service cannot run here. Responses are built
from the service's wire JSON (camelCase), the way the SDK deserializes real answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from azure.batch.models import (
    BatchCreateTaskCollectionResult,
    BatchJob,
    BatchJobCreateOptions,
    BatchJobUpdateOptions,
    BatchTask,
    BatchTaskGroup,
)
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError


@dataclass
class FakeBatchClient:
    """Records ``(method, args...)``; ``errors[method]`` is raised once when set."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    add_results: list[list[dict[str, Any]]] = field(default_factory=list)
    errors: dict[str, Exception] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    closed: bool = False

    def _maybe_fail(self, method: str) -> None:
        error = self.errors.pop(method, None)
        if error is not None:
            raise error

    def create_job(self, job: BatchJobCreateOptions, **kwargs: Any) -> None:
        self.calls.append(("create_job", job))
        self._maybe_fail("create_job")
        if job.id in self.jobs:
            raise ResourceExistsError(message="The specified job already exists.")
        self.jobs[job.id] = {"id": job.id, "state": "active"}

    def get_job(self, job_id: str, **kwargs: Any) -> BatchJob:
        self.calls.append(("get_job", job_id))
        self._maybe_fail("get_job")
        if job_id not in self.jobs:
            raise ResourceNotFoundError(message="JobNotFound: The specified job does not exist.")
        return BatchJob(self.jobs[job_id])

    def update_job(self, job_id: str, job: BatchJobUpdateOptions, **kwargs: Any) -> None:
        self.calls.append(("update_job", job_id, job))
        self._maybe_fail("update_job")

    def create_task_collection(
        self, job_id: str, task_collection: BatchTaskGroup, **kwargs: Any
    ) -> BatchCreateTaskCollectionResult:
        self.calls.append(("create_task_collection", job_id, task_collection))
        self._maybe_fail("create_task_collection")
        if self.add_results:
            values = self.add_results.pop(0)
        else:
            values = [
                {"status": "success", "taskId": task.id} for task in task_collection.task_values
            ]
        return BatchCreateTaskCollectionResult({"value": values})

    def list_tasks(self, job_id: str, **kwargs: Any) -> Iterable[BatchTask]:
        self.calls.append(("list_tasks", job_id))
        self._maybe_fail("list_tasks")
        return [BatchTask(task) for task in self.tasks.get(job_id, [])]

    def begin_terminate_job(self, job_id: str, options: Any = None, **kwargs: Any) -> object:
        self.calls.append(("begin_terminate_job", job_id, options))
        self._maybe_fail("begin_terminate_job")
        return object()

    def begin_delete_job(self, job_id: str, **kwargs: Any) -> object:
        self.calls.append(("begin_delete_job", job_id))
        self._maybe_fail("begin_delete_job")
        if self.jobs.pop(job_id, None) is None:
            raise ResourceNotFoundError(message="JobNotFound: The specified job does not exist.")
        self.tasks.pop(job_id, None)
        return object()

    def close(self) -> None:
        self.closed = True

    def names(self) -> list[str]:
        """The methods called, in order."""
        return [call[0] for call in self.calls]
