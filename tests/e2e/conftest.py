"""End to end: our real function_app under devhost, on Azurite and a metadata store.

Each test that runs the app gets a storage account of its own on the session's Azurite (the app
names its containers after the zones, so tests cannot share an account) and its own store file;
the app's per-process singletons are reset around each test. The sample drive is generated once
per run (:mod:`tests.drives`), and its trip through the whole pipeline (upload -> SCENES) runs
once per session and store backend (:mod:`tests.e2e.pipeline`), shared by the tests that only
read its results.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
from azure.cosmos import CosmosClient

from activities import runtime
from dataops.ids import instance_id_for
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from devhost.batch_runner import BatchRunner, batch_runner
from devhost.durable.clock import Clock
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob
from devhost.services.cosmos_server import CosmosServer
from tests.azurite import fresh_account
from tests.devhost.hosting import run_with_host
from tests.drives import shared_drive
from tests.e2e.pipeline import (
    READ_KEY,
    ROOT,
    SUBSCRIPTIONS,
    WRITE_KEY,
    PipelineRun,
    finished,
    ingest_sample,
    run_pipeline,
    wait_for,
)

BACKENDS = ("sqlite", "cosmos")


@dataclass
class AppEnv:
    """Handles on everything the app under test talks to."""

    connection_string: str
    zones: BlobZones
    sqlite_path: Path
    state_dir: Path

    def store(self) -> SqliteStore:
        return SqliteStore(self.sqlite_path)

    def options(self, **overrides: Any) -> HostOptions:
        values: dict[str, Any] = {
            "app_root": ROOT,
            "state_dir": self.state_dir,
            "port": 0,
            "function_key": WRITE_KEY,
            "activity_mode": "thread",
            "subscriptions_path": SUBSCRIPTIONS,
            "storage_connection_string": self.connection_string,
            "poll_interval_s": 0.05,
            "delivery_backoff_s": 0.05,
        }
        values.update(overrides)
        return HostOptions(**values)


@pytest.fixture
def app_env(
    storage_account: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppEnv]:
    """A storage account of this test with the zone containers, settings pointing at it, a store."""
    sqlite_path = tmp_path / "metadata.sqlite3"
    monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", storage_account)
    monkeypatch.setenv("AVOPS_SQLITE_PATH", str(sqlite_path))
    monkeypatch.setenv("AVOPS_API_WRITE_KEYS", WRITE_KEY)
    monkeypatch.setenv("AVOPS_API_READ_KEYS", READ_KEY)
    # Ingest tests upload fake (non-recording) bytes: they test ingest alone.
    monkeypatch.setenv("AVOPS_EXTRACT_ON_INGEST", "false")
    runtime.reset()
    zones = BlobZones.from_settings(Settings())
    zones.ensure_containers()
    try:
        yield AppEnv(storage_account, zones, sqlite_path, tmp_path / "devhost")
    finally:
        zones.close()
        runtime.reset()


@pytest.fixture(scope="session")
def sample_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sample drive (seed 3), generated once per run (:mod:`tests.drives`); tests
    only read it."""
    return shared_drive(tmp_path_factory, seed=3)


@pytest.fixture
def extract_env(app_env: AppEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchRunner]:
    """Extraction on ingest, and the local batch pool scheduling on the app's database."""
    monkeypatch.setenv("AVOPS_EXTRACT_ON_INGEST", "true")
    # The runner exports AZURE_STORAGE_CONNECTION_STRING for the workers; undo it afterwards.
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "")
    with batch_runner(Settings(), max_parallel=4) as runner:
        yield runner


@pytest.fixture(scope="session")
def pipeline_runs(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sample_drive: Path,
    azurite: AzuriteBlob,
) -> Iterator[Callable[[str], PipelineRun]]:
    """Each backend's run, made on first use and kept for the session.

    A parametrized session fixture keeps one parameter at a time: tests of the two backends in
    mixed order (xdist schedules them so) would tear a run down and make it again.
    """
    runs: dict[str, PipelineRun] = {}
    # A run that failed fails every later test of its backend at once, naming the first error,
    # instead of each of them running the whole pipeline again (minutes apiece).
    failures: dict[str, str] = {}

    def make(backend: str) -> PipelineRun:
        if backend in failures:
            pytest.fail(f"the {backend} pipeline run failed earlier: {failures[backend]}")
        if backend not in runs:
            try:
                runs[backend] = _run_on(backend, request, tmp_path_factory, sample_drive, azurite)
            except BaseException as err:
                failures[backend] = f"{type(err).__name__}: {err}"[:2000]
                raise
        return runs[backend]

    try:
        yield make
    finally:
        # A cosmos run's database lives as long as the session's cosmosdb-server, which holds
        # it in memory: both end with the session. (The session's client, requested while this
        # fixture was up, is closed before this teardown runs.)
        for run in runs.values():
            run.close()


@pytest.fixture(params=BACKENDS)
def pipeline_run(
    request: pytest.FixtureRequest, pipeline_runs: Callable[[str], PipelineRun]
) -> PipelineRun:
    """The sample drive uploaded once and followed to SCENES by the app under devhost.

    Per store backend: sqlite with its change log as the feed; cosmos on the session's
    cosmosdb-server, in a database of its own, with devhost's ``_ts`` poller over the raw
    documents as the feed (what ``avops dev`` gives the app). Tests only read what it left.
    """
    return pipeline_runs(str(request.param))


def _run_on(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sample_drive: Path,
    azurite: AzuriteBlob,
) -> PipelineRun:
    workdir = tmp_path_factory.mktemp(f"pipeline-{backend}")
    env = {
        "AVOPS_STORAGE_CONNECTION_STRING": fresh_account(azurite),
        "AVOPS_STORE_BACKEND": backend,
        "AVOPS_SQLITE_PATH": str(workdir / "metadata.sqlite3"),
        "AVOPS_API_WRITE_KEYS": WRITE_KEY,
        "AVOPS_API_READ_KEYS": READ_KEY,
        "AVOPS_EXTRACT_ON_INGEST": "true",
    }
    client: CosmosClient | None = None
    if backend == "cosmos":
        client = request.getfixturevalue("cosmos_client")
        server: CosmosServer = request.getfixturevalue("cosmos_server")
        env.update(server.settings_env(database=f"e2e-{uuid.uuid4().hex[:12]}"))
    with warnings.catch_warnings():
        # cosmosdb-server's self-signed certificate: TLS checks are off for it on purpose.
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        return run_pipeline(
            backend=backend,
            env=env,
            state_dir=workdir / "devhost",
            drive=sample_drive,
            cosmos_client=client,
        )


# One way to run a host in a test: the devhost tests' helper, under the name these tests use.
run_host = run_with_host


async def follow_chain(host: DevHost, extracted_id: str, steps: Sequence[str]) -> list[Any]:
    """The change-feed steps ``steps`` (in chain order) once each finished, the first started
    from ``extracted_id`` and each next one from the datastream its predecessor made; every
    step but the last must have COMPLETED."""
    instances: list[Any] = []
    source_id = extracted_id
    for step in steps:
        if instances:
            previous = instances[-1]
            assert previous.status is RuntimeStatus.COMPLETED, previous.error
            source_id = json.loads(previous.output)["datastream_id"]
        instances.append(await finished(host, instance_id_for(step, source_id), timeout_s=60))
    return instances


__all__ = [
    "READ_KEY",
    "ROOT",
    "SUBSCRIPTIONS",
    "WRITE_KEY",
    "AppEnv",
    "Clock",
    "finished",
    "follow_chain",
    "ingest_sample",
    "run_host",
    "wait_for",
]
