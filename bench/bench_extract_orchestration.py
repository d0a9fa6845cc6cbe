"""Extraction orchestration overhead: upload -> EXTRACTED on the large sample drive.

Two references, both measured in the same run from the very same worker command lines (read
back from the local pool's database, zone placeholders resolved, run with ``--force``):

- **serial**: the command lines one after another (the first, looser reference);
- **same slots** (the strict one): ingest's own floor (the upload checked, every file hashed and
  copied to raw and archive by ``dataops.ingest`` directly, as many at once as devhost's activity
  workers) plus the command lines run directly with as many at once as the pool has slots, each
  job's ``validate`` first, as the pool orders them. Goal: ingest + extraction after the upload
  <= 1.15 x this reference.

Reported: upload -> EXTRACTED wall time, the time after the upload, both references, the time
the pool's tasks themselves took, and the overhead against each reference in percent.

Run with ``make bench`` (``pytest bench -m bench -s``); results go to bench/results/.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from activities import runtime
from avops.sample_drive import generate_drive
from bench._common import (
    ROOT,
    ingest_directly,
    ingest_with_extraction,
    project_host_options,
    use_local_stack,
    write_results,
)
from dataops.batch.local_pool_db import PoolDb, TaskRow
from dataops.manifest import parse_manifest
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.uploader import upload_measurement
from devhost.batch_runner import BatchRunner, batch_runner
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob

# host.json's maxConcurrentActivityFunctions, which devhost honours: the floor gets as many.
ACTIVITY_WORKERS = json.loads((ROOT / "host.json").read_text())["extensions"]["durableTask"][
    "maxConcurrentActivityFunctions"
]


async def _orchestrated(
    options: HostOptions, zones: BlobZones, drive: Path, batch: BatchRunner
) -> dict[str, Any]:
    host = DevHost(options)
    # As `avops dev` wires it: a job's end wakes its orchestration instead of its next poll.
    batch.notify(host.engine)
    await host.start()
    try:
        started_at = time.time()
        run = await ingest_with_extraction(host, zones, drive, "bench/large", poll_s=0.2)
        return {
            "upload_s": run.upload_s,
            "upload_to_extracted_s": run.total_s,
            "after_upload_s": run.total_s - run.upload_s,
            # Wall-clock instants (epoch), to split the time after the upload by phase.
            "uploaded_at": started_at + run.upload_s,
            "extracted_at": started_at + run.total_s,
        }
    finally:
        await host.stop()


def _tasks(pool_db: Path) -> list[Any]:
    database = PoolDb(pool_db)
    try:
        with database.read() as conn:
            job_ids = [
                row[0] for row in conn.execute("SELECT job_id FROM jobs ORDER BY created_at")
            ]
            return [task for job in job_ids for task in database.tasks_of(conn, job)]
    finally:
        database.close()


def _phases(pool_db: Path, timing: dict[str, float], tasks: list[TaskRow]) -> dict[str, float]:
    """Where the time after the upload went: until the first extraction job was submitted
    (ingest and planning), while the pool ran tasks, the time in which no task ran between
    the first start and the last end (dependency and scheduling gaps), and after the last
    task until EXTRACTED was recorded."""
    database = PoolDb(pool_db)
    try:
        with database.read() as conn:
            (first_job,) = conn.execute("SELECT MIN(created_at) FROM jobs").fetchone()
    finally:
        database.close()
    spans = sorted((t.started_at or 0.0, t.ended_at or 0.0) for t in tasks)
    first_start, last_end = spans[0][0], max(end for _, end in spans)
    busy, covered_to = 0.0, first_start
    for start, end in spans:
        if end > covered_to:
            busy += end - max(start, covered_to)
            covered_to = end
    return {
        "upload_to_first_job_s": first_job - timing["uploaded_at"],
        "first_job_to_first_task_s": first_start - first_job,
        "tasks_first_start_to_last_end_s": last_end - first_start,
        "no_task_running_s": (last_end - first_start) - busy,
        "last_task_to_extracted_s": timing["extracted_at"] - last_end,
    }


def _run_task(row: TaskRow, env: dict[str, str]) -> None:
    argv = [sys.executable if a == "python" else a for a in row.task.command]
    subprocess.run([*argv, "--force"], env={**env, **row.task.env}, check=True, capture_output=True)


def _run_directly(tasks: list[TaskRow], env: dict[str, str]) -> float:
    """The command lines one after another; their summed wall time."""
    total = 0.0
    for row in tasks:
        started = time.perf_counter()
        _run_task(row, env)
        total += time.perf_counter() - started
    return total


def _run_in_slots(tasks: list[TaskRow], env: dict[str, str], slots: int) -> float:
    """The command lines ``slots`` at a time, each after the tasks it depends on (the pool's
    order: jobs as created, tasks in sequence); the wall time of the whole."""
    started = time.perf_counter()
    done: dict[tuple[str, str], Future[None]] = {}
    # A task waiting for its dependencies holds no slot: only the runs pass through the gate.
    gate = threading.BoundedSemaphore(slots)

    def in_a_slot(row: TaskRow) -> None:
        for task_id in row.task.depends_on:
            done[(row.job_id, task_id)].result()
        with gate:
            _run_task(row, env)

    with ThreadPoolExecutor(len(tasks)) as waiters:
        for row in tasks:
            done[(row.job_id, row.task_id)] = waiters.submit(in_a_slot, row)
        for future in done.values():
            future.result()
    return time.perf_counter() - started


def _ingest_floor(zones: BlobZones, settings: Settings, drive: Path, workers: int) -> float:
    """Ingest's own floor on this storage: the drive uploaded again under another prefix, then
    checked, hashed and copied to raw and archive directly (the upload is not timed)."""
    manifest = parse_manifest((drive / "manifest.json").read_bytes())
    upload_measurement(zones, drive, manifest, upload_prefix="bench/floor")
    return ingest_directly(zones, settings, "bench/floor", workers=workers)


@pytest.mark.bench
@pytest.mark.timeout(3600)
def test_upload_to_extracted_against_the_same_tasks_run_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = tmp_path / "drive"
    generated = generate_drive(drive, seed=1, size="large")
    with AzuriteBlob(tmp_path / "azurite") as azurite:
        use_local_stack(monkeypatch, azurite, tmp_path / "metadata.sqlite3")
        settings = Settings()
        zones = BlobZones.from_settings(settings)
        zones.ensure_containers()
        options = project_host_options(tmp_path / "devhost", azurite.connection_string, 0.1)
        with batch_runner(settings) as batch:
            timing = asyncio.run(_orchestrated(options, zones, drive, batch))
        print(f"\norchestrated: {timing}", flush=True)
        pool_db = settings.sqlite_path.parent / "batch" / "pool.sqlite3"
        tasks = _tasks(pool_db)
        pool_task_s = sum((t.ended_at or 0) - (t.started_at or 0) for t in tasks)
        phases = _phases(pool_db, timing, tasks)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        slots = settings.batch_local_slots or os.cpu_count() or 1
        floor_s = _ingest_floor(zones, settings, drive, workers=ACTIVITY_WORKERS)
        in_slots_s = _run_in_slots(tasks, env, slots)
        serial_s = _run_directly(tasks, env)
        zones.close()
        runtime.reset()
    after_upload = timing["after_upload_s"]
    same_slots_s = floor_s + in_slots_s
    row = {
        "drive_bytes": generated.total_bytes,
        "tasks": len(tasks),
        "cores": os.cpu_count(),
        "slots": slots,
        "activity_workers": ACTIVITY_WORKERS,
        **{k: round(v, 1) for k, v in timing.items() if not k.endswith("_at")},
        **{k: round(v, 1) for k, v in phases.items()},
        "pool_task_seconds_sum": round(pool_task_s, 1),
        "direct_tasks_seconds_sum": round(serial_s, 1),
        "overhead_percent": round((timing["upload_to_extracted_s"] - serial_s) / serial_s * 100, 1),
        "ingest_floor_s": round(floor_s, 1),
        "direct_tasks_in_slots_s": round(in_slots_s, 1),
        "same_slots_reference_s": round(same_slots_s, 1),
        "after_upload_ratio_to_same_slots": round(after_upload / same_slots_s, 3),
    }
    write_results("bench_extract_orchestration", row)
    print()
    print(json.dumps(row, indent=2))
