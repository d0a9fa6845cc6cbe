"""What the fleet benchmarks share: the whole local stack with measurements attached.

``stack(workdir)`` starts Azurite, the SQLite store (its change log feeds the change feed), the
local batch pool (signalling job ends to the host) and devhost with activities in threads of
this process, each run measured: wall interval, CPU seconds of its thread (RUSAGE_THREAD,
independent of what else runs on the machine) and the storage requests made meanwhile. Batch
tasks get :mod:`bench.task_probe` through a ``sitecustomize``: the same for each worker.
Every storage request of this process is counted by a wrapper around the SDK's transport
(one request = one billable storage transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities import runtime
from bench.task_probe import Requests, count_requests, probe_site
from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from dataops.uploader import upload_measurement
from devhost.batch_runner import BatchRunner
from devhost.durable.store import TERMINAL, RuntimeStatus, WorkItem
from devhost.host import DevHost, HostOptions
from devhost.invoke import ActivityOutcome, run_activity
from devhost.registry import Registry, TriggerType
from devhost.services.azurite import AzuriteBlob

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CHAIN = ("synchronize", "enrich", "detect_scenes")


@dataclass
class ActivityRun:
    """One measured activity invocation."""

    name: str
    instance_id: str
    start: float
    end: float
    cpu_s: float


@dataclass
class MeasuringRunner:
    """Thread runner that measures each activity (an ActivityRunner for devhost)."""

    registry: Registry
    workers: int
    runs: list[ActivityRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="activity")
        self._lock = threading.Lock()

    def _measured(self, item: WorkItem) -> ActivityOutcome:
        start = time.time()
        before = resource.getrusage(resource.RUSAGE_THREAD)
        outcome = run_activity(self.registry.get(item.name, TriggerType.ACTIVITY), item.input)
        after = resource.getrusage(resource.RUSAGE_THREAD)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        with self._lock:
            self.runs.append(ActivityRun(item.name, item.instance_id, start, time.time(), cpu))
        return outcome

    async def run(self, item: WorkItem) -> ActivityOutcome:
        """Run in a thread of this process, measured."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._measured, item)

    def close(self) -> None:
        """Stop the threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Stack:
    """The running stack of one benchmark."""

    host: DevHost
    zones: BlobZones
    settings: Settings
    runner: MeasuringRunner
    requests: Requests
    probe_dir: Path
    batch: BatchRunner


@contextlib.contextmanager
def services(workdir: Path) -> Iterator[tuple[AzuriteBlob, Settings]]:
    """Azurite and the settings pointing at it (environment set for this process)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    with AzuriteBlob(workdir / "azurite", loose=True) as azurite:
        os.environ["AVOPS_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        os.environ["AVOPS_SQLITE_PATH"] = str(workdir / "metadata.sqlite3")
        os.environ["AVOPS_STORE_BACKEND"] = "sqlite"
        os.environ["AVOPS_EXTRACT_ON_INGEST"] = "true"
        runtime.reset()
        yield azurite, Settings()
        runtime.reset()


@contextlib.asynccontextmanager
async def stack(
    workdir: Path,
    azurite: AzuriteBlob,
    settings: Settings,
    *,
    batch_slots: int | None = None,
    activity_workers: int | None = None,
) -> AsyncIterator[Stack]:
    """Store, batch pool, devhost (activities measured, in threads) on ``azurite``.

    ``activity_workers`` unset: what host.json configures, as the Functions host does."""
    zones = BlobZones.from_settings(settings)
    zones.ensure_containers()
    feed = SqliteStore(settings.sqlite_path)
    probe_dir = workdir / "probes"
    probe_dir.mkdir(exist_ok=True)
    batch = BatchRunner(settings, max_parallel=batch_slots)
    pool_env = batch.pool.env
    pool_env["PYTHONPATH"] = os.pathsep.join([str(probe_site(workdir)), str(ROOT)])
    pool_env["AVOPS_PROBE_DIR"] = str(probe_dir)
    options = HostOptions(
        app_root=ROOT,
        state_dir=workdir / "devhost",
        port=0,
        activity_mode="thread",
        subscriptions_path=ROOT / "infra" / "eventgrid-subscriptions.json",
        storage_connection_string=azurite.connection_string,
        change_source=feed,
        poll_interval_s=1.0,  # what `avops dev` uses
        activity_workers=activity_workers,
    )
    with count_requests() as requests:
        host = DevHost(options)
        runner = MeasuringRunner(host.registry, host.activity_workers)
        host.runner.close()
        host.runner = runner
        host.worker.runner = runner
        batch.notify(host.engine).start()
        await host.start()
        try:
            yield Stack(host, zones, settings, runner, requests, probe_dir, batch)
        finally:
            await host.stop()
            batch.stop()
            feed.close()
            zones.close()


def copy_drive(source: Path, target: Path, vehicle_id: str) -> Path:
    """The same recordings as another vehicle's drive (another measurement id): hard links
    where possible, a manifest with the new vehicle id."""
    shutil.copytree(source, target, copy_function=_link_or_copy)
    manifest = target / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["vehicle_id"] = vehicle_id
    manifest.unlink()  # a hard link: do not change the source's manifest
    manifest.write_text(json.dumps(doc, indent=2))
    return target


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def upload(stack_: Stack, drive: Path, prefix: str) -> float:
    """Upload a drive under ``landing/<prefix>/``; returns the wall time of the upload."""
    started = time.time()
    manifest = parse_manifest((drive / "manifest.json").read_bytes())
    upload_measurement(stack_.zones, drive, manifest, upload_prefix=prefix)
    return started


async def wait_for_scenes(host: DevHost, prefix: str, timeout_s: float) -> dict[str, Any]:
    """Follow one upload to its SCENES datastream; the instance ids and end times on the way."""
    deadline = time.monotonic() + timeout_s
    chain: dict[str, Any] = {}
    instance_id = instance_id_for("ingest", prefix)
    found = await _final(host, instance_id, deadline)
    chain["ingest"] = {"instance_id": instance_id, "status": found.status.value}
    output = json.loads(found.output or "{}")
    extraction = output.get("extraction") or {}
    if found.status is not RuntimeStatus.COMPLETED or extraction.get("status") != "Completed":
        raise AssertionError(
            f"{prefix}: ingest/extraction did not complete: {found.error or extraction}"
        )
    chain["extracted_at"] = _updated(host, instance_id_for("extract", output["datastream_id"]))
    source = str(extraction["datastream_id"])
    for step in CHAIN:
        instance_id = instance_id_for(step, source)
        found = await _final(host, instance_id, deadline)
        if found.status is not RuntimeStatus.COMPLETED:
            raise AssertionError(f"{prefix}: {step} ended {found.status.value}: {found.error}")
        custom = json.loads(found.custom_status or "{}")
        chain[step] = {"instance_id": instance_id, "ended_at": _updated(host, instance_id)}
        source = str(custom["datastream_id"])
    chain["scenes_datastream_id"] = source
    chain["scenes_at"] = chain["detect_scenes"]["ended_at"]
    return chain


def _updated(host: DevHost, instance_id: str) -> float:
    inst = host.engine.get_instance(instance_id)
    assert inst is not None
    from devhost.durable.history import parse_time

    return parse_time(inst.updated_at).timestamp()


async def _final(host: DevHost, instance_id: str, deadline: float) -> Any:
    while time.monotonic() < deadline:
        found = host.engine.get_instance(instance_id)
        if found is not None and found.status in TERMINAL:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{instance_id} not finished in time")


def probes(probe_dir: Path) -> list[dict[str, Any]]:
    """What bench.task_probe recorded for every batch task attempt."""
    return [json.loads(p.read_text()) for p in sorted(probe_dir.glob("*.json"))]


def merged_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of intervals: time in which at least one of them ran."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total
