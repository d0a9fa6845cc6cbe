"""The Azure Batch backend: one job per recording on the extraction pool (azure-batch 15).

The SDK client is injected (``BatchServiceClient`` is the part of ``azure.batch.BatchClient``
used here), so tests drive this class with a recording fake; :meth:`AzureBatchBackend.connect`
builds the real client with a managed identity. The model mapping lives in
:mod:`dataops.batch.azure_batch_models`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final, Protocol

from azure.batch.models import (
    BatchAllTasksCompleteMode,
    BatchCreateTaskCollectionResult,
    BatchJob,
    BatchJobCreateOptions,
    BatchJobState,
    BatchJobUpdateOptions,
    BatchTask,
    BatchTaskAddStatus,
    BatchTaskGroup,
)

# The terminate options model is only exported from the private module in azure-batch 15,
# but it is the declared type of begin_terminate_job's ``options``.
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import AzureError, ResourceExistsError

from dataops.azure_errors import map_azure_error
from dataops.batch.azure_batch_models import (
    BLOCKED_REASON,
    CANCEL_REASON,
    AzureTaskSettings,
    job_create_options,
    job_status,
    task_create_options,
)
from dataops.batch.spec import JobSpec, JobState, JobStatus
from dataops.errors import NotFoundError, RetryableError, TerminalError

__all__ = ["TASKS_PER_REQUEST", "AzureBatchBackend", "BatchServiceClient"]

log = logging.getLogger(__name__)

# The service takes at most 100 tasks per add-collection request.
TASKS_PER_REQUEST: Final = 100
_EXISTS = "TaskExists"


class BatchServiceClient(Protocol):
    """The methods of ``azure.batch.BatchClient`` this backend calls."""

    def create_job(self, job: BatchJobCreateOptions, **kwargs: Any) -> None: ...

    def get_job(self, job_id: str, **kwargs: Any) -> BatchJob: ...

    def update_job(self, job_id: str, job: BatchJobUpdateOptions, **kwargs: Any) -> None: ...

    def create_task_collection(
        self, job_id: str, task_collection: BatchTaskGroup, **kwargs: Any
    ) -> BatchCreateTaskCollectionResult: ...

    def list_tasks(self, job_id: str, **kwargs: Any) -> Iterable[BatchTask]: ...

    def begin_terminate_job(
        self, job_id: str, options: BatchJobTerminateOptions | None = None, **kwargs: Any
    ) -> object: ...

    def begin_delete_job(self, job_id: str, **kwargs: Any) -> object: ...

    def close(self) -> None: ...


class AzureBatchBackend:
    """BatchBackend on an Azure Batch pool (see docs/batch.md for the mapping)."""

    def __init__(
        self, client: BatchServiceClient, *, pool_id: str, task_settings: AzureTaskSettings
    ) -> None:
        self._client = client
        self.pool_id = pool_id
        self.task_settings = task_settings

    @classmethod
    def connect(
        cls,
        account_url: str,
        *,
        pool_id: str,
        task_settings: AzureTaskSettings,
        credential: object | None = None,
    ) -> AzureBatchBackend:
        """A backend on a real BatchClient; default credential: DefaultAzureCredential
        (the Function App's managed identity in Azure)."""
        from azure.batch import BatchClient
        from azure.identity import DefaultAzureCredential

        client = BatchClient(
            endpoint=account_url,
            credential=credential or DefaultAzureCredential(),  # type: ignore[arg-type]
        )
        return cls(client, pool_id=pool_id, task_settings=task_settings)

    # BatchBackend ---------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> str:
        """Create the job, add missing tasks (100 per request), then let it end by itself.

        Idempotent: an existing job gets only the tasks it lacks (a submit that died half
        way is completed); a job that already ended is left alone.
        """
        try:
            with _service_errors(f"create job {spec.job_id}"):
                self._client.create_job(
                    job_create_options(spec, pool_id=self.pool_id, settings=self.task_settings)
                )
        except ResourceExistsError:
            with _service_errors(f"get job {spec.job_id}"):
                existing = self._client.get_job(spec.job_id)
            if existing.state != BatchJobState.ACTIVE:
                return spec.job_id
        by_id = {task.task_id: task for task in spec.tasks}
        # Parents first, so a dependency is never added after the task that waits for it.
        ordered = [
            task_create_options(by_id[tid], self.task_settings) for tid in spec.topological_order()
        ]
        for start in range(0, len(ordered), TASKS_PER_REQUEST):
            chunk = ordered[start : start + TASKS_PER_REQUEST]
            with _service_errors(f"add tasks to {spec.job_id}"):
                result = self._client.create_task_collection(
                    spec.job_id, BatchTaskGroup(task_values=chunk)
                )
            _check_added(spec.job_id, result)
        with _service_errors(f"update job {spec.job_id}"):
            self._client.update_job(
                spec.job_id,
                BatchJobUpdateOptions(
                    all_tasks_complete_mode=BatchAllTasksCompleteMode.TERMINATE_JOB
                ),
            )
        log.info("batch job submitted", extra={"job_id": spec.job_id, "tasks": len(ordered)})
        return spec.job_id

    def status(self, job_id: str) -> JobStatus:
        """The job's tasks mapped onto our states.

        Tasks blocked by a failed dependency stay active in the service forever, so the job
        would never end by itself: when nothing can run any more, it is terminated here.
        """
        with _service_errors(f"get job {job_id}"):
            job = self._client.get_job(job_id)
            tasks = list(self._client.list_tasks(job_id))
        status = job_status(job, tasks)
        if status.state is JobState.FAILED and job.state == BatchJobState.ACTIVE:
            self._terminate(job_id, BLOCKED_REASON)
        return status

    def cancel(self, job_id: str) -> None:
        """Terminate the job: running tasks are killed, the others never start."""
        with _service_errors(f"get job {job_id}"):
            job = self._client.get_job(job_id)
        if job.state in (BatchJobState.TERMINATING, BatchJobState.COMPLETED):
            return
        self._terminate(job_id, CANCEL_REASON)

    def close(self) -> None:
        """Close the SDK client's HTTP pipeline."""
        self._client.close()

    # Erasure --------------------------------------------------------------------------------

    def job_exists(self, job_id: str) -> bool:
        """Whether the service still holds the job (any state, also one being deleted)."""
        try:
            with _service_errors(f"get job {job_id}"):
                self._client.get_job(job_id)
        except NotFoundError:
            return False
        return True

    def delete_job(self, job_id: str) -> bool:
        """Delete the job: the service terminates what still runs and deletes the job with its
        tasks, their command lines and environment, and their files on the nodes. True when
        this call deleted it; False when there was no such job, or an earlier call's deletion
        still runs in the service's background (409 JobBeingDeleted)."""
        try:
            with _service_errors(f"delete job {job_id}"):
                # The poller finishes in the background; the request is sent already.
                self._client.begin_delete_job(job_id)
        except NotFoundError:
            return False
        except ResourceExistsError:
            log.info("batch job already being deleted", extra={"job_id": job_id})
            return False
        log.info("batch job deleted", extra={"job_id": job_id})
        return True

    # internals ------------------------------------------------------------------------------

    def _terminate(self, job_id: str, reason: str) -> None:
        try:
            with _service_errors(f"terminate job {job_id}"):
                # The poller finishes in the background; the request is sent already.
                self._client.begin_terminate_job(
                    job_id, BatchJobTerminateOptions(termination_reason=reason)
                )
        except ResourceExistsError:
            # 409: the job ended (or is ending) on its own meanwhile, which is the goal.
            log.info("batch job already ended", extra={"job_id": job_id})
            return
        log.info("batch job terminated", extra={"job_id": job_id, "reason": reason})


def _check_added(job_id: str, result: BatchCreateTaskCollectionResult) -> None:
    for item in result.result_values or []:
        if item.status == BatchTaskAddStatus.SUCCESS:
            continue
        code = item.error.code if item.error else None
        if code == _EXISTS:
            continue
        message = item.error.message.value if item.error and item.error.message else None
        text = f"adding task {item.task_id!r} to job {job_id!r} failed: {code}: {message}"
        if item.status == BatchTaskAddStatus.SERVER_ERROR:
            raise RetryableError(text)
        raise TerminalError(text)


@contextmanager
def _service_errors(what: str) -> Iterator[None]:
    """SDK errors into our family (:mod:`dataops.azure_errors`); a 409 passes as is, because
    the callers treat "already exists" / "already ended" as success."""
    try:
        yield
    except ResourceExistsError:
        raise
    except AzureError as err:
        raise map_azure_error(err, where=what) from err
