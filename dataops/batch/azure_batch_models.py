"""Pure mapping between our JobSpec/JobStatus and the azure-batch 15 SDK models.

No network here: :mod:`dataops.batch.azure_batch` sends what these functions build, and the
tests compare it with expected models field by field.

Why the command runs through a small ``/bin/sh`` loop: Azure Batch retries a task on *any*
nonzero exit while ``maxTaskRetryCount`` allows, and exit conditions can only block
dependents or act on the job, never skip a retry. Bad input (exit 2) must not be retried, so
the service's retry count is 0 and the loop retries the worker itself: exit 0 and 2 end it
at once, any other code is retried up to the task's ``max_retries`` (the same rule as the
local pool, :mod:`dataops.batch.exit_codes`). Node failures and Spot evictions are still
re-run by the service (``requeueCount``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from azure.batch.models import (
    AutoUserScope,
    AutoUserSpecification,
    BatchAllTasksCompleteMode,
    BatchJob,
    BatchJobActionKind,
    BatchJobCreateOptions,
    BatchJobPreparationTask,
    BatchJobReleaseTask,
    BatchJobState,
    BatchMetadataItem,
    BatchNodeIdentityReference,
    BatchPoolInfo,
    BatchTask,
    BatchTaskConstraints,
    BatchTaskContainerSettings,
    BatchTaskCreateOptions,
    BatchTaskDependencies,
    BatchTaskExecutionResult,
    BatchTaskFailureMode,
    ContainerHostBatchBindMountEntry,
    ContainerHostDataPath,
    ContainerRegistryReference,
    ContainerWorkingDirectory,
    DependencyAction,
    ElevationLevel,
    EnvironmentSetting,
    ExitCodeMapping,
    ExitConditions,
    ExitOptions,
    UserIdentity,
)
from azure.batch.models import BatchTaskState as ServiceTaskState

from dataops.batch.exit_codes import EXIT_TERMINAL, describe
from dataops.batch.notify import JobDoneSigner
from dataops.batch.spec import (
    JobSpec,
    JobStatus,
    TaskSpec,
    TaskState,
    TaskStatus,
    derive_job_state,
    resolve_zones,
)
from dataops.job_signal import NOTIFY_TOKEN_ENV, NOTIFY_URL_ENV, job_done_url

__all__ = [
    "BLOCKED_REASON",
    "CANCEL_REASON",
    "DEFAULT_MOUNT_ROOT",
    "EXIT_CONDITIONS",
    "AzureTaskSettings",
    "command_line",
    "job_create_options",
    "job_status",
    "task_create_options",
]

# $AZ_BATCH_NODE_MOUNTS_DIR on Linux nodes: the pool mounts each zone at <root>/<zone>
# (infra/modules/batch.bicep: relativeMountPath raw and extracted).
DEFAULT_MOUNT_ROOT: Final = "/mnt/batch/tasks/fsmounts"
# Termination reasons this backend writes, so status() can tell a cancel from the
# service's own "AllTasksComplete".
CANCEL_REASON: Final = "AvopsCanceled"
BLOCKED_REASON: Final = "AvopsBlocked"
_METADATA_PREFIX = "avops_"

# Exit 2 (bad input) and every other failure block the task's dependents; the job itself
# goes on, so independent tasks (camera while lidar failed) still finish.
EXIT_CONDITIONS: Final = ExitConditions(
    exit_codes=[
        ExitCodeMapping(
            code=EXIT_TERMINAL,
            exit_options=ExitOptions(
                job_action=BatchJobActionKind.NONE, dependency_action=DependencyAction.BLOCK
            ),
        )
    ],
    pre_processing_error=ExitOptions(
        job_action=BatchJobActionKind.NONE, dependency_action=DependencyAction.BLOCK
    ),
    file_upload_error=ExitOptions(
        job_action=BatchJobActionKind.NONE, dependency_action=DependencyAction.BLOCK
    ),
    default=ExitOptions(
        job_action=BatchJobActionKind.NONE, dependency_action=DependencyAction.BLOCK
    ),
)


@dataclass(frozen=True)
class AzureTaskSettings:
    """How tasks run on the pool: image, registry identity, and where the zones are."""

    image: str
    registry_server: str | None = None
    # User-assigned identity of the pool: pulls the image (AcrPull) ...
    identity_resource_id: str | None = None
    # ... and, as AZURE_CLIENT_ID, lets the worker's DefaultAzureCredential pick it for
    # blob URLs.
    identity_client_id: str | None = None
    mount_root: str = DEFAULT_MOUNT_ROOT
    # zone -> root as tasks see it; default: the pool's NFS mounts of raw and extracted.
    # Blob container URLs work too (the worker authenticates with the identity above).
    zone_roots: Mapping[str, str] | None = None
    retry_delay_s: int = 2
    # The worker image's ENTRYPOINT is the worker itself; clear it so the task's command
    # line (the retry loop) is what the container runs.
    container_run_options: str = "--entrypoint="
    python: str = "python"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # The app's API base URL (https://<app host>/api) and the signer of job tokens; both
    # set, every job gets a release task that POSTs to the app's job-done route with the
    # job's own token (dataops.batch.notify). None: the orchestration only polls.
    notify_api_base_url: str | None = None
    notify_signer: JobDoneSigner | None = field(default=None, repr=False)

    def roots(self) -> dict[str, str]:
        """zone -> root (NFS mount paths unless ``zone_roots`` says otherwise)."""
        if self.zone_roots is not None:
            return dict(self.zone_roots)
        root = self.mount_root.rstrip("/")
        return {"raw": f"{root}/raw", "extracted": f"{root}/extracted"}


def command_line(argv: list[str], *, max_retries: int, timeout_s: int | None, delay_s: int) -> str:
    """``/bin/sh -c`` retry loop around the argv (see module docstring); all of it quoted."""
    run = shlex.join(
        argv if timeout_s is None else ["timeout", "-s", "KILL", str(timeout_s), *argv]
    )
    script = (
        f"attempt=0; while :; do {run}; code=$?; "
        f"case $code in 0|{EXIT_TERMINAL}) exit $code;; esac; "
        f'[ "$attempt" -ge {max_retries} ] && exit $code; '
        "attempt=$((attempt + 1)); "
        f'echo "avops: exit code $code, retry $attempt of {max_retries}" >&2; '
        f"sleep {delay_s}; done"
    )
    return shlex.join(["/bin/sh", "-c", script])


def job_create_options(
    spec: JobSpec, *, pool_id: str, settings: AzureTaskSettings | None = None
) -> BatchJobCreateOptions:
    """The job: on the pool, with task dependencies, and no automatic end *yet*.

    A job created with ``terminatejob`` and no tasks counts as complete at once, so the
    backend switches it on with an update after the tasks are added. With a notify URL in
    ``settings``, the job also gets the release task that signals its end (and the
    preparation task the service requires next to one).
    """
    labels = spec.labels.model_dump(exclude_none=True)
    preparation, release = _notify_tasks(spec, settings)
    return BatchJobCreateOptions(
        id=spec.job_id,
        pool_info=BatchPoolInfo(pool_id=spec.pool or pool_id),
        uses_task_dependencies=True,
        all_tasks_complete_mode=BatchAllTasksCompleteMode.NO_ACTION,
        task_failure_mode=BatchTaskFailureMode.NO_ACTION,
        metadata=[
            BatchMetadataItem(name=f"{_METADATA_PREFIX}{name}", value=str(value))
            for name, value in sorted(labels.items())
        ],
        job_preparation_task=preparation,
        job_release_task=release,
    )


def _notify_tasks(
    spec: JobSpec, settings: AzureTaskSettings | None
) -> tuple[BatchJobPreparationTask | None, BatchJobReleaseTask | None]:
    """Release task posting batch_job_done when the job ends (every node that ran a task
    runs it once; duplicates are harmless, the orchestration polls for the truth)."""
    instance_id = spec.labels.instance_id
    if (
        settings is None
        or settings.notify_api_base_url is None
        or settings.notify_signer is None
        or instance_id is None
    ):
        return None, None
    # Whoever may read the job sees these two values: the URL and a token good for nothing
    # but "job spec.job_id of this run ended" (docs/batch.md).
    env = [
        EnvironmentSetting(
            name=NOTIFY_URL_ENV,
            value=job_done_url(settings.notify_api_base_url, instance_id, spec.job_id),
        ),
        EnvironmentSetting(
            name=NOTIFY_TOKEN_ENV, value=settings.notify_signer.token(instance_id, spec.job_id)
        ),
    ]
    if settings.identity_client_id:
        env.append(EnvironmentSetting(name="AZURE_CLIENT_ID", value=settings.identity_client_id))
    container = _container_settings(settings)
    # The service takes a release task only next to a preparation task; this one does nothing.
    preparation = BatchJobPreparationTask(
        command_line="/bin/sh -c true",
        container_settings=container,
        wait_for_success=True,
        user_identity=_NON_ADMIN,
    )
    release = BatchJobReleaseTask(
        command_line=shlex.join([settings.python, "-m", "extract_worker.notify"]),
        container_settings=container,
        environment_settings=env,
        max_wall_clock_time=timedelta(minutes=2),
        user_identity=_NON_ADMIN,
    )
    return preparation, release


def _container_settings(settings: AzureTaskSettings) -> BatchTaskContainerSettings:
    registry = None
    if settings.registry_server:
        registry = ContainerRegistryReference(
            registry_server=settings.registry_server,
            identity_reference=(
                BatchNodeIdentityReference(resource_id=settings.identity_resource_id)
                if settings.identity_resource_id
                else None
            ),
        )
    return BatchTaskContainerSettings(
        image_name=settings.image,
        registry=registry,
        container_run_options=settings.container_run_options,
        working_directory=ContainerWorkingDirectory.TASK_WORKING_DIRECTORY,
        # Only the task's own directory and the pool's NFS mounts enter the container.
        container_host_batch_bind_mounts=[
            ContainerHostBatchBindMountEntry(source=ContainerHostDataPath.TASK, is_read_only=False),
            ContainerHostBatchBindMountEntry(
                source=ContainerHostDataPath.VFS_MOUNTS, is_read_only=False
            ),
        ],
    )


_NON_ADMIN: Final = UserIdentity(
    auto_user=AutoUserSpecification(
        scope=AutoUserScope.POOL, elevation_level=ElevationLevel.NON_ADMIN
    )
)


def task_create_options(task: TaskSpec, settings: AzureTaskSettings) -> BatchTaskCreateOptions:
    """One task in the worker's container, with its dependencies and exit conditions."""
    roots = settings.roots()
    argv = [resolve_zones(arg, roots) for arg in task.command]
    if argv[0] == "python":
        argv[0] = settings.python
    env = {
        **settings.extra_env,
        **{name: resolve_zones(value, roots) for name, value in task.env.items()},
    }
    if settings.identity_client_id:
        env.setdefault("AZURE_CLIENT_ID", settings.identity_client_id)
    return BatchTaskCreateOptions(
        id=task.task_id,
        command_line=command_line(
            argv,
            max_retries=task.max_retries,
            timeout_s=task.resources.max_wall_clock_s,
            delay_s=settings.retry_delay_s,
        ),
        container_settings=_container_settings(settings),
        environment_settings=[
            EnvironmentSetting(name=name, value=value) for name, value in sorted(env.items())
        ],
        depends_on=(
            BatchTaskDependencies(task_ids=list(task.depends_on)) if task.depends_on else None
        ),
        # Retries happen inside the command (see module docstring): the service must not
        # run a bad-input task again.
        constraints=BatchTaskConstraints(max_task_retry_count=0),
        exit_conditions=EXIT_CONDITIONS,
        required_slots=task.resources.slots,
        user_identity=_NON_ADMIN,
    )


def job_status(job: BatchJob, tasks: Iterable[BatchTask]) -> JobStatus:
    """Map the service's job and tasks onto our states.

    active -> PENDING, or BLOCKED when a dependency failed (the service keeps blocked tasks
    active forever); preparing and running -> RUNNING; completed -> SUCCEEDED or FAILED by
    the execution result. A job this backend canceled is CANCELED, and its unfinished tasks
    too.
    """
    canceled = _canceled(job)
    service_tasks = list(tasks)
    statuses = {task.id: _task_status(task) for task in service_tasks}
    depends = {
        task.id: list(task.depends_on.task_ids or []) if task.depends_on else []
        for task in service_tasks
    }
    _mark_blocked(statuses, depends)
    if canceled:
        statuses = {
            tid: status
            if status.state.final
            else status.model_copy(update={"state": TaskState.CANCELED, "reason": "job canceled"})
            for tid, status in statuses.items()
        }
    return JobStatus(
        job_id=job.id, state=derive_job_state(statuses, canceled=canceled), tasks=statuses
    )


def _canceled(job: BatchJob) -> bool:
    if job.state == BatchJobState.DELETING:
        return True
    if job.state not in (BatchJobState.TERMINATING, BatchJobState.COMPLETED):
        return False
    info = job.execution_info
    return info is not None and info.termination_reason == CANCEL_REASON


def _task_status(task: BatchTask) -> TaskStatus:
    info = task.execution_info
    base = TaskStatus(
        state=TaskState.PENDING,
        exit_code=info.exit_code if info else None,
        retries=(info.retry_count or 0) + (info.requeue_count or 0) if info else 0,
        # The worker logs to stderr (JSON lines); stdout.txt sits next to it.
        log_location=f"{task.url}/files/stderr.txt" if task.url else None,
        started_at=info.start_time if info else None,
        ended_at=info.end_time if info else None,
    )
    if task.state == ServiceTaskState.COMPLETED:
        result = info.result if info else None
        if result == BatchTaskExecutionResult.SUCCESS or (result is None and base.exit_code == 0):
            return base.model_copy(update={"state": TaskState.SUCCEEDED})
        return base.model_copy(update={"state": TaskState.FAILED, "reason": _failure_reason(task)})
    if task.state in (ServiceTaskState.PREPARING, ServiceTaskState.RUNNING):
        return base.model_copy(update={"state": TaskState.RUNNING})
    return base


def _failure_reason(task: BatchTask) -> str:
    info = task.execution_info
    parts: list[str] = []
    if info is not None and info.exit_code is not None:
        parts.append(describe(info.exit_code))
    failure = info.failure_info if info else None
    if failure is not None:
        parts.append(": ".join(p for p in (failure.code, failure.message) if p))
    return "; ".join(parts) or "failed"


def _mark_blocked(statuses: dict[str, TaskStatus], depends: dict[str, list[str]]) -> None:
    # Repeat until nothing changes: a task blocked by a blocked task is blocked too.
    changed = True
    while changed:
        changed = False
        for tid, status in statuses.items():
            if status.state is not TaskState.PENDING:
                continue
            for dep in depends.get(tid, []):
                dep_status = statuses.get(dep)
                if dep_status is not None and dep_status.state in (
                    TaskState.FAILED,
                    TaskState.BLOCKED,
                ):
                    # Name the task that failed, as the local pool does, not the one between.
                    reason = (
                        dep_status.reason
                        if dep_status.state is TaskState.BLOCKED
                        else f"dependency {dep!r} failed"
                    )
                    statuses[tid] = status.model_copy(
                        update={"state": TaskState.BLOCKED, "reason": reason}
                    )
                    changed = True
                    break
