"""End to end: our real function_app under devhost, on Azurite and the SQLite store.

Each test gets its own Azurite (the app names its containers after the zones, so tests cannot
share one) and its own store file; the app's per-process singletons are reset around each test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from activities import runtime
from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from dataops.uploader import upload_measurement
from devhost.batch_runner import BatchRunner, batch_runner
from devhost.durable.clock import Clock
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions
from devhost.sample_drive import generate_drive
from devhost.services.azurite import AzuriteBlob
from tests.devhost.hosting import run_with_host

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTIONS = ROOT / "infra" / "eventgrid-subscriptions.json"
WRITE_KEY = "e2e-write-key"
READ_KEY = "e2e-read-key"


@dataclass
class AppEnv:
    """Handles on everything the app under test talks to."""

    azurite: AzuriteBlob
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
            "storage_connection_string": self.azurite.connection_string,
            "poll_interval_s": 0.05,
            "delivery_backoff_s": 0.05,
        }
        values.update(overrides)
        return HostOptions(**values)


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppEnv]:
    """A fresh Azurite with the zone containers and app settings pointing at it and a new store."""
    with AzuriteBlob(tmp_path / "azurite") as azurite:
        sqlite_path = tmp_path / "metadata.sqlite3"
        monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("AVOPS_SQLITE_PATH", str(sqlite_path))
        monkeypatch.setenv("AVOPS_API_WRITE_KEYS", WRITE_KEY)
        monkeypatch.setenv("AVOPS_API_READ_KEYS", READ_KEY)
        # Ingest tests upload fake (non-recording) bytes: they test ingest alone.
        monkeypatch.setenv("AVOPS_EXTRACT_ON_INGEST", "false")
        runtime.reset()
        zones = BlobZones.from_settings(Settings())
        zones.ensure_containers()
        try:
            yield AppEnv(azurite, zones, sqlite_path, tmp_path / "devhost")
        finally:
            zones.close()
            runtime.reset()


# One way to run a host in a test: the devhost tests' helper, under the name these tests use.
run_host = run_with_host


async def wait_for(
    check: Callable[[], Any], *, timeout_s: float = 60.0, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy (the host runs while we sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


FINAL = {RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED}


async def finished(host: DevHost, instance_id: str, timeout_s: float = 150.0) -> Any:
    """The orchestration instance once it reached a final status."""
    return await wait_for(
        lambda: (
            (i := host.engine.get_instance(instance_id)) is not None and i.status in FINAL and i
        ),
        timeout_s=timeout_s,
        what=f"instance {instance_id} to finish",
    )


@pytest.fixture(scope="module")
def sample_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sample drive (seed 3): ROS 2 (MCAP directory), ROS 1, MDF4 + DBC, TDMS, sidecars,
    truth; its manifest leaves synchronization to the pipeline. One per test module."""
    out = tmp_path_factory.mktemp("drive") / "drive"
    generate_drive(out, seed=3, size="small")
    return out


@pytest.fixture
def extract_env(app_env: AppEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchRunner]:
    """Extraction on ingest, and the local batch pool scheduling on the app's database."""
    monkeypatch.setenv("AVOPS_EXTRACT_ON_INGEST", "true")
    # The runner exports AZURE_STORAGE_CONNECTION_STRING for the workers; undo it afterwards.
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "")
    with batch_runner(Settings(), max_parallel=4) as runner:
        yield runner


async def ingest_sample(host: DevHost, zones: BlobZones, drive: Path, prefix: str) -> Any:
    """Upload the sample drive under ``prefix``; the ingest output once it (and extraction) ran."""
    manifest = parse_manifest((drive / "manifest.json").read_bytes())
    upload_measurement(zones, drive, manifest, upload_prefix=prefix)
    ingest = await finished(host, instance_id_for("ingest", prefix))
    assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
    return json.loads(ingest.output)


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
    "FINAL",
    "ROOT",
    "SUBSCRIPTIONS",
    "AppEnv",
    "Clock",
    "finished",
    "follow_chain",
    "ingest_sample",
    "run_host",
    "wait_for",
]
