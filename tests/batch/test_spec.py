"""JobSpec validation, JobStatus helpers and round trips, the exit-code policy, the factory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dataops.batch import open_batch_backend
from dataops.batch.azure_batch import AzureBatchBackend
from dataops.batch.azure_batch_models import AzureTaskSettings
from dataops.batch.exit_codes import Outcome, classify, describe
from dataops.batch.factory import azure_task_settings
from dataops.batch.local_pool import LocalPool
from dataops.batch.spec import (
    JobSpec,
    JobState,
    JobStatus,
    TaskState,
    TaskStatus,
    derive_job_id,
    derive_job_state,
)
from dataops.errors import InvalidInputError, TerminalError
from dataops.settings import Settings


def _spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "job_id": "job-1",
        "tasks": [
            {"task_id": "validate", "command": ["python", "-m", "extract_worker"]},
            {"task_id": "camera", "command": ["python"], "depends_on": ["validate"]},
        ],
    }
    return {**base, **changes}


def test_a_valid_spec_round_trips_through_plain_dicts() -> None:
    spec = JobSpec.from_dict(_spec(labels={"measurement_id": "m1"}))
    again = JobSpec.from_dict(spec.to_dict())
    assert again == spec
    assert spec.topological_order() == ["validate", "camera"]
    assert spec.dependents("validate") == {"camera"}
    assert spec.task("camera").max_retries == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"job_id": "bad id"}, "job_id"),
        ({"job_id": "x" * 65}, "job_id"),
        ({"job_id": "../etc"}, "job_id"),
        ({"pool": "a/b"}, "pool"),
        ({"tasks": []}, "tasks"),
        ({"tasks": [{"task_id": "a", "command": []}]}, "tasks.0.command"),
        ({"tasks": [{"task_id": "a", "command": ["", "x"]}]}, "tasks.0.command"),
        ({"tasks": [{"task_id": "a", "command": ["x\x00"]}]}, "tasks.0.command"),
        ({"tasks": [{"task_id": "a", "command": ["x"], "max_retries": 11}]}, "tasks.0.max_retries"),
        ({"tasks": [{"task_id": "a", "command": ["x"], "env": {"1X": "v"}}]}, "tasks.0.env"),
        ({"tasks": [{"task_id": "a", "command": ["x"], "unknown": 1}]}, "tasks.0.unknown"),
        ({"tasks": [{"task_id": "a", "command": ["x"]}, {"task_id": "A", "command": ["x"]}]}, None),
        ({"tasks": [{"task_id": "a", "command": ["x"], "depends_on": ["zz"]}]}, None),
        ({"tasks": [{"task_id": "a", "command": ["x"], "depends_on": ["a"]}]}, None),
        (
            {
                "tasks": [
                    {"task_id": "a", "command": ["x"], "depends_on": ["b"]},
                    {"task_id": "b", "command": ["x"], "depends_on": ["a"]},
                ]
            },
            None,
        ),
    ],
)
def test_bad_specs_are_invalid_input(changes: dict[str, Any], field: str | None) -> None:
    with pytest.raises(InvalidInputError) as caught:
        JobSpec.from_dict(_spec(**changes))
    if field is not None:
        assert caught.value.field == field


def test_job_ids_are_deterministic_and_valid() -> None:
    one = derive_job_id("extract", "d1", "2026/01/02/VIN/m/d/drive.bag")
    assert one == derive_job_id("extract", "d1", "2026/01/02/VIN/m/d/drive.bag")
    assert one != derive_job_id("extract", "d1", "other.bag")
    assert len(one) <= 64
    JobSpec.from_dict(_spec(job_id=one))


def _status(state: TaskState) -> TaskStatus:
    return TaskStatus(state=state)


@pytest.mark.parametrize(
    ("states", "canceled", "expected"),
    [
        ([TaskState.SUCCEEDED, TaskState.SUCCEEDED], False, JobState.COMPLETED),
        ([TaskState.SUCCEEDED, TaskState.RUNNING], False, JobState.ACTIVE),
        ([TaskState.FAILED, TaskState.PENDING], False, JobState.ACTIVE),
        ([TaskState.FAILED, TaskState.BLOCKED], False, JobState.FAILED),
        ([TaskState.SUCCEEDED, TaskState.FAILED], False, JobState.FAILED),
        ([TaskState.SUCCEEDED, TaskState.RUNNING], True, JobState.CANCELED),
    ],
)
def test_job_state_from_task_states(
    states: list[TaskState], canceled: bool, expected: JobState
) -> None:
    tasks = {f"t{i}": _status(state) for i, state in enumerate(states)}
    assert derive_job_state(tasks, canceled=canceled) is expected


def test_job_status_round_trips_and_helpers() -> None:
    status = JobStatus(
        job_id="j",
        state=JobState.FAILED,
        tasks={
            "a": TaskStatus(
                state=TaskState.FAILED,
                exit_code=2,
                reason="bad input",
                log_location="/l/a.log",
                started_at=datetime(2026, 1, 1, tzinfo=UTC),
                ended_at=datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
            ),
            "b": TaskStatus(state=TaskState.BLOCKED, reason="dependency 'a' failed"),
        },
    )
    plain = status.to_dict()
    assert plain["tasks"]["a"]["started_at"] == "2026-01-01T00:00:00Z"
    assert JobStatus.from_dict(plain) == status
    assert status.done and status.failed and set(status.failed_tasks()) == {"a"}
    with pytest.raises(InvalidInputError):
        JobStatus.from_dict({"job_id": "j", "state": "DONE", "tasks": {}})


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, Outcome.SUCCEEDED),
        (2, Outcome.TERMINAL),
        (3, Outcome.RETRYABLE),
        (1, Outcome.RETRYABLE),
        (137, Outcome.RETRYABLE),
        (-9, Outcome.RETRYABLE),
    ],
)
def test_exit_code_policy(code: int, outcome: Outcome) -> None:
    assert classify(code) is outcome
    assert describe(code)


def test_factory_opens_the_local_pool_by_default(tmp_path: Path) -> None:
    backend = open_batch_backend(Settings(sqlite_path=tmp_path / "meta" / "m.sqlite3"))
    try:
        assert isinstance(backend, LocalPool)
        assert backend.workdir == (tmp_path / "meta" / "batch").resolve()
        assert str(Path(__file__).resolve().parents[2]) in backend.env["PYTHONPATH"]
    finally:
        backend.close()


def test_factory_azure_needs_account_and_image() -> None:
    settings = Settings(batch_backend="azure")
    with pytest.raises(TerminalError, match="ACCOUNT_URL"):
        open_batch_backend(settings)
    with_url = Settings(
        batch_backend="azure", batch_account_url="https://a.westeurope.batch.azure.com"
    )
    with pytest.raises(TerminalError, match="image"):
        open_batch_backend(with_url)
    backend = open_batch_backend(with_url, azure_tasks=AzureTaskSettings(image="img:1"))
    try:
        assert isinstance(backend, AzureBatchBackend) and backend.pool_id == "extraction"
    finally:
        backend.close()


def test_azure_task_settings_come_from_the_batch_settings() -> None:
    """The worker image, registry and pool identity of the tasks are app settings, checked."""
    settings = Settings(
        batch_backend="azure",
        batch_account_url="https://a.westeurope.batch.azure.com",
        batch_worker_image="crabc.azurecr.io/avops-extract-worker:v1",
        batch_registry_server="crabc.azurecr.io",
        batch_identity_id="/subscriptions/s/resourceGroups/r/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/id-batch",
        batch_identity_client_id="11111111-2222-3333-4444-555555555555",
    )
    tasks = azure_task_settings(settings)
    assert tasks == AzureTaskSettings(
        image="crabc.azurecr.io/avops-extract-worker:v1",
        registry_server="crabc.azurecr.io",
        identity_resource_id=settings.batch_identity_id,
        identity_client_id="11111111-2222-3333-4444-555555555555",
    )
    # NFS mounts of the pool, not blob URLs, are the zone roots in Azure.
    assert tasks.roots() == {
        "raw": "/mnt/batch/tasks/fsmounts/raw",
        "extracted": "/mnt/batch/tasks/fsmounts/extracted",
    }
    with pytest.raises(TerminalError, match="AVOPS_BATCH_IDENTITY_ID"):
        azure_task_settings(settings.model_copy(update={"batch_identity_id": ""}))
    with pytest.raises(TerminalError, match="AVOPS_BATCH_WORKER_IMAGE"):
        open_batch_backend(settings.model_copy(update={"batch_worker_image": ""}))
