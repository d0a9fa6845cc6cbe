"""The unchanged app under devhost with ``AVOPS_BATCH_BACKEND=azure``, against a recording fake of
the Batch service on the wire (tests/batch/fake_batch_service.py).

Configured only through settings, as infra/ configures the Function App: the Batch account URL,
pool, worker image, registry and pool identity are AVOPS_ settings, and the app's token comes
from the managed-identity endpoint (IDENTITY_ENDPOINT), so the real BatchClient and
DefaultAzureCredential run. The test asserts what the service receives: jobs, tasks (image,
registry identity, task identity, NFS inputs, dependencies, exit conditions) and the
termination of a job whose validate task failed.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.models import DatastreamState, DatastreamType
from dataops.uploader import upload_measurement
from devhost.durable.store import TERMINAL, RuntimeStatus
from devhost.host import DevHost
from tests.batch.fake_batch_service import (
    IDENTITY_HEADER,
    TOKEN_PATH,
    BatchServiceState,
    fake_batch_service,
)
from tests.e2e.conftest import AppEnv, run_host, wait_for

pytestmark = pytest.mark.azurite

IMAGE = "crtest.azurecr.io/avops-extract-worker:abc1234"
REGISTRY = "crtest.azurecr.io"
POOL_IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/id-batch-test"
)
POOL_CLIENT_ID = "b0b0b0b0-0000-4000-8000-000000000001"
APP_CLIENT_ID = "f0f0f0f0-0000-4000-8000-000000000002"
NFS = "/mnt/batch/tasks/fsmounts"


def validate_fails(job_id: str, task: dict[str, Any]) -> dict[str, Any]:
    """The service's answer: every task that runs validate (a validate task, or a small
    recording's one task of all kinds) ends with exit 2 (bad input), others wait."""
    del job_id
    if task["id"] not in {"validate", "kinds"}:
        return {}
    return {
        "state": "completed",
        "executionInfo": {
            "startTime": "2026-01-01T00:00:00Z",
            "endTime": "2026-01-01T00:00:05Z",
            "exitCode": 2,
            "result": "failure",
            "retryCount": 0,
            "requeueCount": 0,
        },
    }


@pytest.fixture
def batch_service(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[BatchServiceState]:
    """The fake service, and the app's settings pointing at it (and nothing else)."""
    del app_env  # Azurite, store and keys first; these settings come on top
    with fake_batch_service(tmp_path, validate_fails) as (url, ca_cert, state):
        settings = {
            "AVOPS_EXTRACT_ON_INGEST": "true",
            "AVOPS_BATCH_BACKEND": "azure",
            "AVOPS_BATCH_ACCOUNT_URL": url,
            "AVOPS_BATCH_POOL_ID": "extraction",
            "AVOPS_BATCH_WORKER_IMAGE": IMAGE,
            "AVOPS_BATCH_REGISTRY_SERVER": REGISTRY,
            "AVOPS_BATCH_IDENTITY_ID": POOL_IDENTITY,
            "AVOPS_BATCH_IDENTITY_CLIENT_ID": POOL_CLIENT_ID,
            # What the Functions platform and infra/ set for a user-assigned identity.
            "IDENTITY_ENDPOINT": f"{url}{TOKEN_PATH}",
            "IDENTITY_HEADER": IDENTITY_HEADER,
            "AZURE_CLIENT_ID": APP_CLIENT_ID,
            "REQUESTS_CA_BUNDLE": str(ca_cert),
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
            monkeypatch.delenv(name, raising=False)
        yield state


def argv_kinds(task: dict[str, Any]) -> list[str]:
    """The kinds a task's worker command line runs (its ``--task`` options, in order)."""
    argv = _argv(task["commandLine"])
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--task"]


def _argv(command_line: str) -> list[str]:
    """The worker's argv inside the task's `/bin/sh -c` retry loop."""
    shell = shlex.split(command_line)
    assert shell[:2] == ["/bin/sh", "-c"], command_line
    loop = shell[2]
    run = loop.split("while :; do ", 1)[1].split("; code=$?", 1)[0]
    return shlex.split(run)


def test_extraction_submits_the_worker_image_as_the_pool_identity_and_stops_on_bad_input(
    app_env: AppEnv, batch_service: BatchServiceState, sample_drive: Path
) -> None:
    drive = sample_drive
    prefix = "fleet/azure-1"

    async def body(host: DevHost) -> Any:
        manifest = parse_manifest((drive / "manifest.json").read_bytes())
        upload_measurement(app_env.zones, drive, manifest, upload_prefix=prefix)
        return await wait_for(
            lambda: (
                (i := host.engine.get_instance(instance_id_for("ingest", prefix))) is not None
                and i.status in TERMINAL
                and i
            ),
            timeout_s=150,
            what="ingest to finish",
        )

    ingest = run_host(app_env.options(), body)
    assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
    output = json.loads(ingest.output)
    assert output["extraction"]["status"] == "Failed"
    assert "task validate exit 2" in output["extraction"]["reason"]

    state = batch_service
    # Every Batch request carried the token of the app's own identity (AZURE_CLIENT_ID).
    assert state.requests and all(
        r.headers.get("authorization") == "Bearer fake-batch-access-token" for r in state.requests
    )
    assert all(r.query["api-version"] for r in state.requests)
    assert state.token_requests
    for query in state.token_requests:
        assert query["resource"] == ["https://batch.core.windows.net/"]
        assert query["client_id"] == [APP_CLIENT_ID]

    # One job per recording, on the pool, with dependencies, switched to end by itself only
    # once its tasks are in.
    created = {r.body["id"]: r.body for r in state.calls("POST", "/jobs")}
    assert len(created) == 4
    for job in created.values():
        assert job["poolInfo"] == {"poolId": "extraction"}
        assert job["usesTaskDependencies"] is True
        assert job["onAllTasksComplete"] == "noaction"
        assert job["onTaskFailure"] == "noaction"
    patches = {r.path.rsplit("/", 1)[1]: r.body for r in state.calls("PATCH")}
    assert patches == {job_id: {"onAllTasksComplete": "terminatejob"} for job_id in created}

    tasks_by_job = {
        r.path.split("/")[2]: r.body["value"] for r in state.calls("POST", "/addtaskcollection")
    }
    assert set(tasks_by_job) == set(created)
    # The sample drive's recordings are small (under combine_kinds_max_mb): one task each,
    # running every kind of its format.
    # (TDMS 3 kinds, MDF4 4, the ROS 1 and ROS 2 bags 9 each)
    counts = sorted(len(argv_kinds(t)) for tasks in tasks_by_job.values() for t in tasks)
    assert counts == [3, 4, 9, 9]
    for job_id, tasks in tasks_by_job.items():
        ids = [t["id"] for t in tasks]
        assert ids == ["kinds"], job_id
        assert argv_kinds(tasks[0])[0] == "validate"
        for task in tasks:
            container = task["containerSettings"]
            assert container["imageName"] == IMAGE
            assert container["registry"] == {
                "registryServer": REGISTRY,
                "identityReference": {"resourceId": POOL_IDENTITY},
            }
            assert container["containerRunOptions"] == "--entrypoint="
            assert {m["source"] for m in container["containerHostBatchBindMounts"]} == {
                "Task",
                "VfsMounts",
            }
            env = {e["name"]: e["value"] for e in task["environmentSettings"]}
            # The worker's DefaultAzureCredential picks the pool identity, not the app's.
            assert env["AZURE_CLIENT_ID"] == POOL_CLIENT_ID
            argv = _argv(task["commandLine"])
            # Killed after the task's wall-clock limit, then the worker module itself.
            assert argv[:3] == ["timeout", "-s", "KILL"] and argv[3].isdigit(), argv
            assert argv[4:7] == ["python", "-m", "extract_worker"], argv
            paths = [a for a in argv if a.startswith("/")]
            # Inputs from the raw NFS mount, outputs to the extracted one; no blob URL, no
            # Azurite address leaks into a task.
            assert any(p.startswith(f"{NFS}/raw/") for p in paths), argv
            assert all(p.startswith((f"{NFS}/raw/", f"{NFS}/extracted/")) for p in paths), argv
            assert "127.0.0.1" not in task["commandLine"] and "devstoreaccount1" not in str(env)
            assert task["constraints"] == {"maxTaskRetryCount": 0}
            assert task["userIdentity"] == {
                "autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}
            }
            exits = task["exitConditions"]
            assert exits["exitCodes"] == [
                {"code": 2, "exitOptions": {"jobAction": "none", "dependencyAction": "block"}}
            ]
            assert exits["default"] == {"jobAction": "none", "dependencyAction": "block"}
            # The one task of a recording depends on nothing: validate runs inside it first.
            assert "dependsOn" not in task

    # validate failed, so nothing else can run: each job was terminated as blocked.
    terminated = {r.path.split("/")[2]: r.body for r in state.calls("POST", "/terminate")}
    assert terminated == {job_id: {"terminateReason": "AvopsBlocked"} for job_id in created}

    store = app_env.store()
    extracted = store.list_datastreams(output["measurement_id"], DatastreamType.EXTRACTED)
    assert [d.state for d in extracted] == [DatastreamState.FAILED]
    reason = extracted[0].state_reason or ""
    # The log location is the service's task file URL.
    assert f"task validate exit 2 log {state.base_url}/jobs/" in reason, reason
    store.close()
