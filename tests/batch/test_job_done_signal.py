"""A job's end is signalled at once (local pool hook, Azure release task, the notify program),
and the local pool's slots are a setting."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from azure.batch.models import (
    BatchJobPreparationTask,
    BatchJobReleaseTask,
    EnvironmentSetting,
)

from dataops.batch.azure_batch import AzureBatchBackend
from dataops.batch.azure_batch_models import AzureTaskSettings
from dataops.batch.factory import open_batch_backend
from dataops.batch.local_pool import LocalPool
from dataops.batch.notify import JOB_DONE_EVENT, JobDone, notify_url_template, raise_event_url
from dataops.batch.spec import JobLabels, JobSpec
from dataops.settings import Settings
from tests.batch.conftest import Tasks, make_pool
from tests.batch.fake_batch_client import FakeBatchClient
from tests.http_stub import serving

REPO = Path(__file__).resolve().parents[2]


def _labelled(job_id: str, *task_specs: Any, instance_id: str | None = "orch-1") -> JobSpec:
    return JobSpec(job_id=job_id, tasks=list(task_specs), labels=JobLabels(instance_id=instance_id))


def test_the_hook_hears_once_when_the_last_task_ends(tmp_path: Path, tasks: Tasks) -> None:
    """One call per job, after its last task (failed ones too), naming the instance."""
    heard: list[JobDone] = []
    pool = make_pool(tmp_path, on_job_done=heard.append)
    try:
        pool.submit(
            _labelled(
                "sig",
                tasks.spec("a", sleep=0.1),
                tasks.spec("b", depends_on=("a",)),
                tasks.spec("c", codes="2"),
            )
        )
        pool.run_until_done("sig", timeout_s=20)
    finally:
        pool.close()
    assert heard == [JobDone(job_id="sig", instance_id="orch-1", state="FAILED")]


def test_no_signal_for_a_job_without_an_instance(tmp_path: Path, tasks: Tasks) -> None:
    """A job nobody waits for (no instance_id label) is not signalled."""
    heard: list[JobDone] = []
    pool = make_pool(tmp_path, on_job_done=heard.append)
    try:
        pool.submit(_labelled("quiet", tasks.spec("a"), instance_id=None))
        assert pool.run_until_done("quiet", timeout_s=20).done
    finally:
        pool.close()
    assert heard == []


def test_a_failing_hook_does_not_stop_the_pool(tmp_path: Path, tasks: Tasks) -> None:
    """The hook raising costs the signal only: the job still completes (polling remains)."""

    def broken(done: JobDone) -> None:
        raise ConnectionError("host gone")

    pool = make_pool(tmp_path, on_job_done=broken)
    try:
        pool.submit(_labelled("robust", tasks.spec("a")))
        assert pool.run_until_done("robust", timeout_s=20).state.value == "COMPLETED"
    finally:
        pool.close()


def test_local_pool_slots_come_from_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AVOPS_BATCH_LOCAL_SLOTS sets the pool's slots; an explicit argument still wins."""
    monkeypatch.setenv("AVOPS_BATCH_LOCAL_SLOTS", "7")
    settings = Settings()
    assert settings.batch_local_slots == 7
    pool = open_batch_backend(settings, local_dir=tmp_path / "a")
    assert isinstance(pool, LocalPool)
    assert pool.max_parallel == 7
    pool.close()
    other = open_batch_backend(settings, local_dir=tmp_path / "b", max_parallel=3)
    assert isinstance(other, LocalPool)
    assert other.max_parallel == 3
    other.close()


def test_azure_jobs_get_a_release_task_that_posts_the_event() -> None:
    """With a notify URL, the job is created with a no-op preparation task and a release task
    running the notify program with the instance's raise-event URL (exact request shape)."""
    template = notify_url_template(
        "https://func-avops.azurewebsites.net", task_hub="avops", key="k1"
    )
    settings = AzureTaskSettings(
        image="cravops.azurecr.io/worker:1", identity_client_id="cid", notify_url_template=template
    )
    client = FakeBatchClient()
    backend = AzureBatchBackend(client, pool_id="extraction", task_settings=settings)
    spec = JobSpec.model_validate(
        {
            "job_id": "extract-1",
            "tasks": [{"task_id": "validate", "command": ["python", "-m", "extract_worker"]}],
            "labels": {"instance_id": "extract/raw 1"},
        }
    )
    backend.submit(spec)
    job = client.calls[0][1]
    release = job.job_release_task
    assert isinstance(release, BatchJobReleaseTask)
    assert release.command_line == "python -m extract_worker.notify"
    assert list(release.environment_settings) == [
        EnvironmentSetting(
            name="AVOPS_NOTIFY_URL",
            value="https://func-avops.azurewebsites.net/runtime/webhooks/durabletask/instances/"
            f"extract%2Fraw%201/raiseEvent/{JOB_DONE_EVENT}"
            "?taskHub=avops&connection=Storage&code=k1",
        ),
        EnvironmentSetting(name="AZURE_CLIENT_ID", value="cid"),
    ]
    assert release.container_settings.image_name == "cravops.azurecr.io/worker:1"
    assert isinstance(job.job_preparation_task, BatchJobPreparationTask)
    assert job.job_preparation_task.command_line == "/bin/sh -c true"


def test_azure_jobs_without_a_notify_url_have_no_release_task() -> None:
    """No URL configured: the job is as before, and the orchestration polls."""
    client = FakeBatchClient()
    backend = AzureBatchBackend(
        client, pool_id="extraction", task_settings=AzureTaskSettings(image="img")
    )
    backend.submit(
        JobSpec.model_validate(
            {"job_id": "j", "tasks": [{"task_id": "t", "command": ["true"]}], "labels": {}}
        )
    )
    job = client.calls[0][1]
    assert job.job_release_task is None
    assert job.job_preparation_task is None


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str]] = []  # noqa: RUF012 - one server per test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.seen.append((self.path, self.headers["Content-Type"], body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        del args


@pytest.fixture
def durable_api() -> Iterator[str]:
    """A local HTTP server standing in for the app's durable API; records the POSTs."""
    _Recorder.seen = []
    with serving(_Recorder) as url:
        yield url


def test_the_release_task_program_posts_the_job_id(durable_api: str) -> None:
    """``python -m extract_worker.notify`` POSTs {"job_id"} as JSON to AVOPS_NOTIFY_URL."""
    url = raise_event_url(durable_api, "orch-9", task_hub="avops", key="k")
    env = {"AVOPS_NOTIFY_URL": url, "AZ_BATCH_JOB_ID": "extract-9", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "extract_worker.notify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _Recorder.seen == [
        (
            "/runtime/webhooks/durabletask/instances/orch-9/raiseEvent/batch_job_done"
            "?taskHub=avops&connection=Storage&code=k",
            "application/json",
            json.dumps({"job_id": "extract-9"}),
        )
    ]


def test_the_release_task_program_fails_clearly_without_its_settings() -> None:
    """Missing AVOPS_NOTIFY_URL: exit 1 and a message naming the variable."""
    done = subprocess.run(
        [sys.executable, "-m", "extract_worker.notify"],
        env={"PYTHONPATH": str(REPO), "AZ_BATCH_JOB_ID": "j"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "AVOPS_NOTIFY_URL" in done.stderr


def test_the_notify_url_setting_reaches_the_azure_task_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AVOPS_BATCH_NOTIFY_URL becomes the release task's URL template; unset, none."""
    from dataops.batch.factory import azure_task_settings

    monkeypatch.setenv("AVOPS_BATCH_WORKER_IMAGE", "cravops.azurecr.io/worker:1")
    assert azure_task_settings(Settings()).notify_url_template is None
    template = notify_url_template("https://func.example", task_hub="avops", key="k")
    monkeypatch.setenv("AVOPS_BATCH_NOTIFY_URL", template)
    assert azure_task_settings(Settings()).notify_url_template == template
