"""The Azure Batch backend against a recording fake client: the exact SDK models it sends,
the order of its calls, and how it maps every service task state back."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models as batch_models
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from dataops.batch.azure_batch import AzureBatchBackend
from dataops.batch.azure_batch_models import (
    BLOCKED_REASON,
    CANCEL_REASON,
    AzureTaskSettings,
    command_line,
)
from dataops.batch.spec import JobSpec, JobState, TaskSpec, TaskState
from dataops.errors import InvalidInputError, NotFoundError, RetryableError, TerminalError
from dataops.extraction import find_dbc_files, find_recordings, load_extraction_config, plan_jobs
from dataops.models import FileRecord
from tests.batch.fake_batch_client import FakeBatchClient
from tests.worker_command import worker_run

PROGRAM = Path(__file__).with_name("task_program.py")
IDENTITY = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity"
    "/userAssignedIdentities/id-batch"
)
SETTINGS = AzureTaskSettings(
    image="cravops.azurecr.io/avops-extract-worker:1.2.3",
    registry_server="cravops.azurecr.io",
    identity_resource_id=IDENTITY,
    identity_client_id="client-id-1",
)
BLOCK = batch_models.ExitOptions(
    job_action=batch_models.BatchJobActionKind.NONE,
    dependency_action=batch_models.DependencyAction.BLOCK,
)


def _worker(kind: str, depends_on: list[str] | None = None, **extra: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "task_id": kind,
            "command": worker_run(
                kind,
                "{zone:raw}/2026/01/02/VIN1/m1/d1/drive.bag",
                "{zone:extracted}/2026/01/02/VIN1/m1/d2",
                python="python",
            ),
            "depends_on": depends_on or [],
            **extra,
        }
    )


def _spec() -> JobSpec:
    return JobSpec(
        job_id="extract-0123abcd",
        tasks=[
            _worker("validate"),
            _worker(
                "camera",
                ["validate"],
                max_retries=3,
                resources={"slots": 2, "max_wall_clock_s": 600},
            ),
        ],
        labels={"measurement_id": "m1", "datastream_id": "d2", "instance_id": "extract-i1"},
    )


def _backend(client: FakeBatchClient) -> AzureBatchBackend:
    return AzureBatchBackend(client, pool_id="extraction", task_settings=SETTINGS)


def _expected_task(
    kind: str, *, command: str, depends_on: list[str] | None, slots: int
) -> batch_models.BatchTaskCreateOptions:
    return batch_models.BatchTaskCreateOptions(
        id=kind,
        command_line=command,
        container_settings=batch_models.BatchTaskContainerSettings(
            image_name="cravops.azurecr.io/avops-extract-worker:1.2.3",
            registry=batch_models.ContainerRegistryReference(
                registry_server="cravops.azurecr.io",
                identity_reference=batch_models.BatchNodeIdentityReference(resource_id=IDENTITY),
            ),
            container_run_options="--entrypoint=",
            working_directory=batch_models.ContainerWorkingDirectory.TASK_WORKING_DIRECTORY,
            container_host_batch_bind_mounts=[
                batch_models.ContainerHostBatchBindMountEntry(
                    source=batch_models.ContainerHostDataPath.TASK, is_read_only=False
                ),
                batch_models.ContainerHostBatchBindMountEntry(
                    source=batch_models.ContainerHostDataPath.VFS_MOUNTS, is_read_only=False
                ),
            ],
        ),
        environment_settings=[
            batch_models.EnvironmentSetting(name="AZURE_CLIENT_ID", value="client-id-1")
        ],
        depends_on=batch_models.BatchTaskDependencies(task_ids=depends_on) if depends_on else None,
        constraints=batch_models.BatchTaskConstraints(max_task_retry_count=0),
        exit_conditions=batch_models.ExitConditions(
            exit_codes=[batch_models.ExitCodeMapping(code=2, exit_options=BLOCK)],
            pre_processing_error=BLOCK,
            file_upload_error=BLOCK,
            default=BLOCK,
        ),
        required_slots=slots,
        user_identity=batch_models.UserIdentity(
            auto_user=batch_models.AutoUserSpecification(
                scope=batch_models.AutoUserScope.POOL,
                elevation_level=batch_models.ElevationLevel.NON_ADMIN,
            )
        ),
    )


def test_submit_sends_the_expected_models_in_order() -> None:
    client = FakeBatchClient()

    assert _backend(client).submit(_spec()) == "extract-0123abcd"

    assert client.names() == ["create_job", "create_task_collection", "update_job"]
    expected_job = batch_models.BatchJobCreateOptions(
        id="extract-0123abcd",
        pool_info=batch_models.BatchPoolInfo(pool_id="extraction"),
        uses_task_dependencies=True,
        all_tasks_complete_mode=batch_models.BatchAllTasksCompleteMode.NO_ACTION,
        task_failure_mode=batch_models.BatchTaskFailureMode.NO_ACTION,
        metadata=[
            batch_models.BatchMetadataItem(name="avops_datastream_id", value="d2"),
            batch_models.BatchMetadataItem(name="avops_instance_id", value="extract-i1"),
            batch_models.BatchMetadataItem(name="avops_measurement_id", value="m1"),
        ],
    )
    assert client.calls[0][1].as_dict() == expected_job.as_dict()

    raw = "/mnt/batch/tasks/fsmounts/raw/2026/01/02/VIN1/m1/d1/drive.bag"
    out = "/mnt/batch/tasks/fsmounts/extracted/2026/01/02/VIN1/m1/d2"
    validate_script = (
        f"attempt=0; while :; do python -m extract_worker run --task validate --input {raw} "
        f"--output {out}; code=$?; case $code in 0|2) exit $code;; esac; "
        '[ "$attempt" -ge 2 ] && exit $code; attempt=$((attempt + 1)); '
        'echo "avops: exit code $code, retry $attempt of 2" >&2; sleep 2; done'
    )
    camera_script = (
        f"attempt=0; while :; do timeout -s KILL 600 python -m extract_worker run --task camera "
        f"--input {raw} --output {out}; code=$?; case $code in 0|2) exit $code;; esac; "
        '[ "$attempt" -ge 3 ] && exit $code; attempt=$((attempt + 1)); '
        'echo "avops: exit code $code, retry $attempt of 3" >&2; sleep 2; done'
    )
    expected_tasks = [
        _expected_task(
            "validate",
            command=shlex.join(["/bin/sh", "-c", validate_script]),
            depends_on=None,
            slots=1,
        ),
        _expected_task(
            "camera",
            command=shlex.join(["/bin/sh", "-c", camera_script]),
            depends_on=["validate"],
            slots=2,
        ),
    ]
    _, job_id, group = client.calls[1]
    assert job_id == "extract-0123abcd"
    assert [task.as_dict() for task in group.task_values] == [t.as_dict() for t in expected_tasks]
    # Every field, not only the serialized ones, matches too.
    assert list(group.task_values) == expected_tasks

    _, job_id, update = client.calls[2]
    assert job_id == "extract-0123abcd"
    assert (
        update.as_dict()
        == batch_models.BatchJobUpdateOptions(
            all_tasks_complete_mode=batch_models.BatchAllTasksCompleteMode.TERMINATE_JOB
        ).as_dict()
    )


def test_a_small_recordings_one_task_runs_every_kind_in_one_command_line() -> None:
    """The plan's combined task reaches the service as one task: every kind as a --task, the
    NFS paths, the DBC sidecar for its can kind, and a wall clock covering all four kinds."""
    files = [
        FileRecord(path="vehicle.mf4", format="mdf4", size=9_500_000),
        FileRecord(path="vehicle.dbc", format="dbc", size=1_000),
    ]
    (job,) = plan_jobs(
        find_recordings(files),
        load_extraction_config(),
        raw_prefix="2026/01/02/VIN1/m1/d1",
        extracted_prefix="2026/01/02/VIN1/m1/d2",
        measurement_id="m1",
        datastream_id="d2",
        instance_id="extract-i1",
        dbc_files=find_dbc_files(files),
    )
    client = FakeBatchClient()

    _backend(client).submit(job.spec)

    (task,) = client.calls[1][2].task_values
    raw = "/mnt/batch/tasks/fsmounts/raw/2026/01/02/VIN1/m1/d1"
    out = "/mnt/batch/tasks/fsmounts/extracted/2026/01/02/VIN1/m1/d2/vehicle.mf4"
    script = (
        "attempt=0; while :; do timeout -s KILL 14400 python -m extract_worker run "
        "--task validate --task metadata --task structured --task can "
        f"--input {raw}/vehicle.mf4 --output {out} --measurement-id m1 --datastream-id d2 "
        f"--job-id {job.spec.job_id} --task-id kinds --instance-id extract-i1 "
        f"--dbc {raw}/vehicle.dbc; code=$?; case $code in 0|2) exit $code;; esac; "
        '[ "$attempt" -ge 2 ] && exit $code; attempt=$((attempt + 1)); '
        'echo "avops: exit code $code, retry $attempt of 2" >&2; sleep 2; done'
    )
    expected = _expected_task(
        "kinds", command=shlex.join(["/bin/sh", "-c", script]), depends_on=None, slots=1
    )
    assert task.as_dict() == expected.as_dict()
    assert task == expected


def test_tasks_go_in_chunks_of_100_parents_first() -> None:
    client = FakeBatchClient()
    children = [_worker(f"t{i:03d}", ["validate"]) for i in range(249)]
    spec = JobSpec(job_id="big", tasks=[*children, _worker("validate")])

    _backend(client).submit(spec)

    groups = [call[2] for call in client.calls if call[0] == "create_task_collection"]
    assert [len(group.task_values) for group in groups] == [100, 100, 50]
    ids = [task.id for group in groups for task in group.task_values]
    assert ids[0] == "validate" and sorted(ids[1:]) == [f"t{i:03d}" for i in range(249)]


def test_pool_hint_and_blob_zone_roots() -> None:
    client = FakeBatchClient()
    settings = AzureTaskSettings(
        image="img:1",
        zone_roots={
            "raw": "https://straw.blob.core.windows.net/raw",
            "extracted": "https://stext.blob.core.windows.net/extracted",
        },
        identity_client_id="cid",
    )
    spec = JobSpec(
        job_id="j", pool="gpu-pool", tasks=[_worker("validate", env={"X": "{zone:raw}"})]
    )

    AzureBatchBackend(client, pool_id="extraction", task_settings=settings).submit(spec)

    job = client.calls[0][1]
    assert job.pool_info.pool_id == "gpu-pool" and job.metadata == []
    task = client.calls[1][2].task_values[0]
    script = shlex.split(task.command_line)[2]
    assert (
        "--input https://straw.blob.core.windows.net/raw/2026/01/02/VIN1/m1/d1/drive.bag" in script
    )
    assert task.container_settings.registry is None
    assert [(e.name, e.value) for e in task.environment_settings] == [
        ("AZURE_CLIENT_ID", "cid"),
        ("X", "https://straw.blob.core.windows.net/raw"),
    ]
    with pytest.raises(InvalidInputError, match="share"):
        AzureBatchBackend(client, pool_id="p", task_settings=settings).submit(
            JobSpec(job_id="k", tasks=[TaskSpec(task_id="a", command=["x", "{zone:share}"])])
        )


def test_resubmit_adds_only_what_is_missing_and_accepts_existing_tasks() -> None:
    client = FakeBatchClient(
        jobs={"extract-0123abcd": {"id": "extract-0123abcd", "state": "active"}}
    )
    client.add_results = [
        [
            {
                "status": "clienterror",
                "taskId": "validate",
                "error": {
                    "code": "TaskExists",
                    "message": {"value": "The specified task already exists."},
                },
            },
            {"status": "success", "taskId": "camera"},
        ]
    ]

    assert _backend(client).submit(_spec()) == "extract-0123abcd"

    assert client.names() == ["create_job", "get_job", "create_task_collection", "update_job"]


def test_resubmit_of_an_ended_job_adds_nothing() -> None:
    client = FakeBatchClient(
        jobs={"extract-0123abcd": {"id": "extract-0123abcd", "state": "completed"}}
    )
    _backend(client).submit(_spec())
    assert client.names() == ["create_job", "get_job"]


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        ("clienterror", "InvalidPropertyValue", TerminalError),
        ("servererror", "ServerBusy", RetryableError),
    ],
)
def test_a_task_the_service_refuses_is_an_error(
    status: str, code: str, error: type[Exception]
) -> None:
    client = FakeBatchClient()
    client.add_results = [
        [
            {
                "status": status,
                "taskId": "validate",
                "error": {"code": code, "message": {"value": "no"}},
            }
        ]
    ]
    with pytest.raises(error, match=code):
        _backend(client).submit(_spec())
    assert "update_job" not in client.names()


def _http_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message=f"status {status}")
    error.status_code = status
    return error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ResourceNotFoundError(message="gone"), NotFoundError),
        (_http_error(503), RetryableError),
        (_http_error(429), RetryableError),
        (_http_error(403), TerminalError),
    ],
)
def test_service_errors_map_onto_the_error_family(
    error: Exception, expected: type[Exception]
) -> None:
    client = FakeBatchClient(jobs={"j": {"id": "j", "state": "active"}}, errors={"get_job": error})
    with pytest.raises(expected):
        _backend(client).status("j")


def _task(
    task_id: str, state: str, *, depends: list[str] | None = None, **info: Any
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": task_id,
        "state": state,
        "url": f"https://avops.westeurope.batch.azure.com/jobs/j/tasks/{task_id}",
    }
    if depends:
        task["dependsOn"] = {"taskIds": depends}
    if info:
        task["executionInfo"] = {"retryCount": 0, "requeueCount": 0, **info}
    return task


T0 = "2026-01-02T10:00:00.000Z"
T1 = "2026-01-02T10:05:00.000Z"


@pytest.mark.parametrize(
    ("service", "expected_state", "exit_code", "retries", "reason"),
    [
        (_task("t", "active"), TaskState.PENDING, None, 0, None),
        # A node failure put it back in the queue: still pending, one service-side rerun.
        (_task("t", "active", requeueCount=1), TaskState.PENDING, None, 1, None),
        (_task("t", "preparing", startTime=T0), TaskState.RUNNING, None, 0, None),
        (_task("t", "running", startTime=T0), TaskState.RUNNING, None, 0, None),
        (
            _task("t", "completed", exitCode=0, result="success", startTime=T0, endTime=T1),
            TaskState.SUCCEEDED,
            0,
            0,
            None,
        ),
        (
            _task(
                "t",
                "completed",
                exitCode=2,
                result="failure",
                failureInfo={
                    "category": "usererror",
                    "code": "FailureExitCode",
                    "message": "The task exited with an exit code representing a failure",
                },
            ),
            TaskState.FAILED,
            2,
            0,
            "bad input (exit code 2): not retried; FailureExitCode: "
            "The task exited with an exit code representing a failure",
        ),
        (
            _task(
                "t",
                "completed",
                exitCode=3,
                result="failure",
                failureInfo={"category": "usererror", "code": "FailureExitCode"},
            ),
            TaskState.FAILED,
            3,
            0,
            "retryable failure (exit code 3); FailureExitCode",
        ),
        # The image could not be pulled: no exit code, only the failure info.
        (
            _task(
                "t",
                "completed",
                result="failure",
                failureInfo={
                    "category": "usererror",
                    "code": "ContainerPullImageFailed",
                    "message": "pull access denied",
                },
            ),
            TaskState.FAILED,
            None,
            0,
            "ContainerPullImageFailed: pull access denied",
        ),
    ],
)
def test_every_service_task_state_maps_onto_ours(
    service: dict[str, Any],
    expected_state: TaskState,
    exit_code: int | None,
    retries: int,
    reason: str | None,
) -> None:
    client = FakeBatchClient(jobs={"j": {"id": "j", "state": "active"}}, tasks={"j": [service]})
    status = _backend(client).status("j")
    task = status.tasks["t"]
    assert (task.state, task.exit_code, task.retries, task.reason) == (
        expected_state,
        exit_code,
        retries,
        reason,
    )
    assert (
        task.log_location
        == "https://avops.westeurope.batch.azure.com/jobs/j/tasks/t/files/stderr.txt"
    )
    if "startTime" in service.get("executionInfo", {}):
        assert task.started_at == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)


def test_dependents_of_a_failed_task_are_blocked_and_the_job_is_ended() -> None:
    client = FakeBatchClient(
        jobs={"j": {"id": "j", "state": "active"}},
        tasks={
            "j": [
                _task("validate", "completed", exitCode=2, result="failure"),
                _task("camera", "active", depends=["validate"]),
                _task("index", "active", depends=["camera"]),
                _task("gps", "completed", exitCode=0, result="success"),
            ]
        },
    )

    status = _backend(client).status("j")

    assert status.state is JobState.FAILED and status.done
    assert status.tasks["camera"].state is TaskState.BLOCKED
    assert status.tasks["index"].state is TaskState.BLOCKED
    assert status.tasks["index"].reason == "dependency 'validate' failed"
    assert status.tasks["gps"].state is TaskState.SUCCEEDED
    terminate = [call for call in client.calls if call[0] == "begin_terminate_job"]
    assert [(c[1], c[2].as_dict()) for c in terminate] == [
        ("j", BatchJobTerminateOptions(termination_reason=BLOCKED_REASON).as_dict())
    ]


def test_a_failed_task_with_others_still_running_leaves_the_job_active() -> None:
    client = FakeBatchClient(
        jobs={"j": {"id": "j", "state": "active"}},
        tasks={
            "j": [
                _task("lidar", "completed", exitCode=2, result="failure"),
                _task("camera", "running"),
            ]
        },
    )
    status = _backend(client).status("j")
    assert status.state is JobState.ACTIVE
    assert "begin_terminate_job" not in client.names()


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (
            {"state": "completed", "executionInfo": {"terminateReason": "AllTasksComplete"}},
            JobState.COMPLETED,
        ),
        (
            {"state": "completed", "executionInfo": {"terminateReason": CANCEL_REASON}},
            JobState.CANCELED,
        ),
        (
            {"state": "terminating", "executionInfo": {"terminateReason": CANCEL_REASON}},
            JobState.CANCELED,
        ),
        ({"state": "deleting"}, JobState.CANCELED),
    ],
)
def test_job_states(job: dict[str, Any], expected: JobState) -> None:
    tasks = [_task("a", "completed", exitCode=0, result="success")]
    if expected is JobState.CANCELED:
        tasks.append(_task("b", "running"))
    client = FakeBatchClient(jobs={"j": {"id": "j", **job}}, tasks={"j": tasks})
    status = _backend(client).status("j")
    assert status.state is expected
    if expected is JobState.CANCELED:
        assert status.tasks["a"].state is TaskState.SUCCEEDED
        assert status.tasks["b"].state is TaskState.CANCELED


def test_cancel_terminates_once() -> None:
    client = FakeBatchClient(jobs={"j": {"id": "j", "state": "active"}})
    backend = _backend(client)
    backend.cancel("j")
    terminate = [call for call in client.calls if call[0] == "begin_terminate_job"]
    assert [(c[1], c[2].as_dict()) for c in terminate] == [
        ("j", BatchJobTerminateOptions(termination_reason=CANCEL_REASON).as_dict())
    ]
    client.jobs["j"]["state"] = "terminating"
    backend.cancel("j")
    assert client.names().count("begin_terminate_job") == 1


def test_cancel_racing_the_job_end_is_fine() -> None:
    client = FakeBatchClient(
        jobs={"j": {"id": "j", "state": "active"}},
        errors={"begin_terminate_job": ResourceExistsError(message="JobCompleted")},
    )
    _backend(client).cancel("j")
    assert client.names() == ["get_job", "begin_terminate_job"]


def test_delete_job_deletes_once_and_says_whether_this_call_did() -> None:
    """Erasure's call: a job that exists is deleted (True); one that does not, or whose
    deletion an earlier call started (409 JobBeingDeleted), is not counted again."""
    client = FakeBatchClient(jobs={"j": {"id": "j", "state": "completed"}})
    backend = _backend(client)
    assert backend.job_exists("j")
    assert backend.delete_job("j") is True
    assert backend.delete_job("j") is False
    assert not backend.job_exists("j")
    assert client.calls == [
        ("get_job", "j"),
        ("begin_delete_job", "j"),
        ("begin_delete_job", "j"),
        ("get_job", "j"),
    ]
    client.jobs["k"] = {"id": "k", "state": "active"}
    client.errors["begin_delete_job"] = ResourceExistsError(message="JobBeingDeleted")
    assert backend.delete_job("k") is False


def test_delete_job_passes_other_service_errors_on() -> None:
    client = FakeBatchClient(
        jobs={"j": {"id": "j", "state": "active"}},
        errors={"begin_delete_job": _http_error(503)},
    )
    with pytest.raises(RetryableError, match="delete job j"):
        _backend(client).delete_job("j")


def test_close_closes_the_client() -> None:
    client = FakeBatchClient()
    _backend(client).close()
    assert client.closed


def _run_command_line(tmp_path: Path, codes: str, max_retries: int, *extra: str) -> tuple[int, int]:
    argv = [
        sys.executable,
        str(PROGRAM),
        "--name",
        "t",
        "--dir",
        str(tmp_path),
        "--codes",
        codes,
        *extra,
    ]
    line = command_line(argv, max_retries=max_retries, timeout_s=None, delay_s=0)
    done = subprocess.run(shlex.split(line), check=False, capture_output=True)
    runs = (tmp_path / "t.runs").read_text().splitlines()
    (tmp_path / "t.runs").unlink()
    return done.returncode, len(runs)


def test_the_retry_loop_runs_as_the_policy_says(tmp_path: Path) -> None:
    """The command line is real shell: run it here with /bin/sh as a Batch node would."""
    assert _run_command_line(tmp_path, "2", 3) == (2, 1)  # bad input: never retried
    assert _run_command_line(tmp_path, "3,0", 3) == (0, 2)
    assert _run_command_line(tmp_path, "3", 2) == (3, 3)
    assert _run_command_line(tmp_path, "1,1,0", 2) == (0, 3)
    assert _run_command_line(tmp_path, "0", 0, "--say", 'it\'s $HOME; `x` "q"') == (0, 1)


def test_the_retry_loop_keeps_hostile_arguments_intact(tmp_path: Path) -> None:
    out = tmp_path / "argv.txt"
    weird = ["a b", "it's", "$HOME", "`id`", "x;y", '"q"', "*", ""]
    script = (
        "import sys, json, pathlib; pathlib.Path(sys.argv[1]).write_text(json.dumps(sys.argv[2:]))"
    )
    line = command_line(
        [sys.executable, "-c", script, str(out), *weird], max_retries=1, timeout_s=5, delay_s=0
    )
    subprocess.run(shlex.split(line), check=True)
    assert json.loads(out.read_text()) == weird
