"""A job's end is signalled at once (local pool hook, Azure release task, the notify program),
and the local pool's slots are a setting."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from azure.batch.models import (
    AutoUserScope,
    AutoUserSpecification,
    BatchJobPreparationTask,
    BatchJobReleaseTask,
    ElevationLevel,
    EnvironmentSetting,
    UserIdentity,
)

from dataops.batch.azure_batch import AzureBatchBackend
from dataops.batch.azure_batch_models import AzureTaskSettings
from dataops.batch.factory import open_batch_backend
from dataops.batch.local_pool import LocalPool
from dataops.batch.notify import JobDone, JobDoneSigner
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


# The token as the app's route expects it, computed here independently of dataops.batch.notify:
# HMAC-SHA256 under the secret of the JSON array [purpose, instance id, job id], in hex.
SECRET = "s" * 32


def _expected_token(instance_id: str, job_id: str) -> str:
    message = json.dumps(["avops.batch-job-done.v1", instance_id, job_id]).encode()
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


def _notifying_settings() -> AzureTaskSettings:
    return AzureTaskSettings(
        image="cravops.azurecr.io/worker:1",
        identity_client_id="cid",
        notify_api_base_url="https://func-avops.azurewebsites.net/api",
        notify_signer=JobDoneSigner.from_setting(SECRET),
    )


def test_azure_jobs_get_a_release_task_that_posts_to_the_app_s_route() -> None:
    """With the app's API base and a secret, the job is created with a no-op preparation task
    and a release task running the notify program with this job's route URL and its token, and
    nothing else: no key of the durable extension anywhere in the request (exact shape)."""
    client = FakeBatchClient()
    backend = AzureBatchBackend(client, pool_id="extraction", task_settings=_notifying_settings())
    spec = JobSpec.model_validate(
        {
            "job_id": "extract-1",
            "tasks": [{"task_id": "validate", "command": ["python", "-m", "extract_worker"]}],
            "labels": {"instance_id": "extract-3f9c"},
        }
    )
    backend.submit(spec)
    job = client.calls[0][1]
    container = job.job_release_task.container_settings
    expected = BatchJobReleaseTask(
        command_line="python -m extract_worker.notify",
        container_settings=container,
        environment_settings=[
            EnvironmentSetting(
                name="AVOPS_NOTIFY_URL",
                value="https://func-avops.azurewebsites.net/api/runs/extract-3f9c"
                "/batch-jobs/extract-1/done",
            ),
            EnvironmentSetting(
                name="AVOPS_NOTIFY_TOKEN", value=_expected_token("extract-3f9c", "extract-1")
            ),
            EnvironmentSetting(name="AZURE_CLIENT_ID", value="cid"),
        ],
        max_wall_clock_time=timedelta(minutes=2),
        user_identity=UserIdentity(
            auto_user=AutoUserSpecification(
                scope=AutoUserScope.POOL, elevation_level=ElevationLevel.NON_ADMIN
            )
        ),
    )
    assert job.job_release_task.as_dict() == expected.as_dict()
    assert container.image_name == "cravops.azurecr.io/worker:1"
    assert isinstance(job.job_preparation_task, BatchJobPreparationTask)
    assert job.job_preparation_task.command_line == "/bin/sh -c true"
    # The tasks carry neither the URL nor the token: only the release task signals.
    task_env = client.calls[1][2].task_values[0].environment_settings
    assert {setting.name for setting in task_env} == {"AZURE_CLIENT_ID"}
    assert SECRET not in repr(client.calls) and "durabletask" not in repr(client.calls)


def test_each_job_gets_a_token_of_its_own() -> None:
    """Two jobs of one run, and one job id in two runs: three different tokens."""
    client = FakeBatchClient()
    backend = AzureBatchBackend(client, pool_id="extraction", task_settings=_notifying_settings())
    for instance_id, job_id in (("run-a", "job-1"), ("run-a", "job-2"), ("run-b", "job-1")):
        backend.submit(
            JobSpec.model_validate(
                {
                    "job_id": job_id,
                    "tasks": [{"task_id": "t", "command": ["true"]}],
                    "labels": {"instance_id": instance_id},
                }
            )
        )
        client.jobs.clear()  # the fake refuses a job id twice; these are separate submissions
    jobs = [call[1] for call in client.calls if call[0] == "create_job"]
    tokens = [
        {s.name: s.value for s in job.job_release_task.environment_settings}["AVOPS_NOTIFY_TOKEN"]
        for job in jobs
    ]
    assert tokens == [
        _expected_token("run-a", "job-1"),
        _expected_token("run-a", "job-2"),
        _expected_token("run-b", "job-1"),
    ]
    assert len(set(tokens)) == 3


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
    """The app's job-done route: records each POST, answers with ``status``."""

    seen: list[tuple[str, str | None, bytes]] = []  # noqa: RUF012 - one server per test
    status = 202

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append((self.path, self.headers.get("X-AVOps-Job-Token"), body))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        del args


@pytest.fixture
def app_route() -> Iterator[str]:
    """A local HTTP server standing in for the app's job-done route; records the POSTs."""
    _Recorder.seen = []
    _Recorder.status = 202
    with serving(_Recorder) as url:
        yield url


def _run_notify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "extract_worker.notify"],
        env={"PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("status", "exit_code"),
    [(202, 0), (410, 0), (403, 1)],
    ids=["accepted", "run-finished", "refused"],
)
def test_the_release_task_program_posts_the_token_once(
    app_route: str, status: int, exit_code: int
) -> None:
    """``python -m extract_worker.notify`` POSTs to AVOPS_NOTIFY_URL with AVOPS_NOTIFY_TOKEN in
    the X-AVOps-Job-Token header and no body; 202 and 410 end it with 0, a refusal with 1 and
    without asking again; the token never reaches its output."""
    _Recorder.status = status
    token = _expected_token("orch-9", "extract-9")
    done = _run_notify(
        {
            "AVOPS_NOTIFY_URL": f"{app_route}/api/runs/orch-9/batch-jobs/extract-9/done",
            "AVOPS_NOTIFY_TOKEN": token,
            "AZ_BATCH_JOB_ID": "extract-9",
        }
    )
    assert done.returncode == exit_code, done.stderr
    assert _Recorder.seen == [("/api/runs/orch-9/batch-jobs/extract-9/done", token, b"")]
    assert token not in done.stdout + done.stderr


def test_the_release_task_program_fails_clearly_without_its_settings() -> None:
    """Missing AVOPS_NOTIFY_TOKEN: exit 1 and a message naming the variables."""
    done = _run_notify({"AVOPS_NOTIFY_URL": "http://127.0.0.1:9/x", "AZ_BATCH_JOB_ID": "j"})
    assert done.returncode == 1
    assert "AVOPS_NOTIFY_URL and AVOPS_NOTIFY_TOKEN must be set" in done.stderr


def test_the_notify_settings_reach_the_azure_task_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AVOPS_BATCH_NOTIFY_URL and AVOPS_BATCH_NOTIFY_SECRET become the release task's route
    base and token key; without the URL, no release task."""
    from dataops.batch.factory import azure_task_settings

    monkeypatch.setenv("AVOPS_BATCH_WORKER_IMAGE", "cravops.azurecr.io/worker:1")
    monkeypatch.setenv("AVOPS_BATCH_NOTIFY_SECRET", SECRET)
    unset = azure_task_settings(Settings())
    assert (unset.notify_api_base_url, unset.notify_signer) == (None, None)
    monkeypatch.setenv("AVOPS_BATCH_NOTIFY_URL", "https://func.example/api")
    tasks = azure_task_settings(Settings())
    assert tasks.notify_api_base_url == "https://func.example/api"
    assert tasks.notify_signer is not None
    assert tasks.notify_signer.token("r", "j") == _expected_token("r", "j")
    assert SECRET not in repr(tasks)
