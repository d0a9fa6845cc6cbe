"""Extraction orchestration overhead: upload -> EXTRACTED on the large sample drive.

Reference, measured in the same run: the sum of the very same worker command lines (read back
from the local pool's database, zone placeholders resolved) run directly one after another with
``--force``. Reported: upload -> EXTRACTED wall time with the local pool on this machine's
cores, the reference sum, the time the pool's tasks themselves took, and the orchestration
overhead in percent (goal < 15%) = (wall time - reference sum) / reference sum. On 2 cores the
pool runs two tasks at once, so a negative overhead means parallelism paid for the orchestration.

Run with ``make bench`` (``pytest bench -m bench -s``); results go to bench/results/.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from activities import runtime
from avops.sample_drive import generate_drive
from bench._common import (
    ROOT,
    ingest_with_extraction,
    project_host_options,
    use_local_stack,
    write_results,
)
from dataops.batch.local_pool_db import PoolDb
from dataops.settings import Settings
from dataops.storage import BlobZones
from devhost.batch_runner import batch_runner
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob


async def _orchestrated(options: HostOptions, zones: BlobZones, drive: Path) -> dict[str, Any]:
    host = DevHost(options)
    await host.start()
    try:
        run = await ingest_with_extraction(host, zones, drive, "bench/large", poll_s=0.2)
        return {
            "upload_s": run.upload_s,
            "upload_to_extracted_s": run.total_s,
            "after_upload_s": run.total_s - run.upload_s,
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


def _run_directly(tasks: list[Any], env: dict[str, str]) -> float:
    total = 0.0
    for row in tasks:
        argv = [sys.executable if a == "python" else a for a in row.task.command]
        started = time.perf_counter()
        subprocess.run(
            [*argv, "--force"], env={**env, **row.task.env}, check=True, capture_output=True
        )
        total += time.perf_counter() - started
    return total


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
        with batch_runner(settings):
            timing = asyncio.run(_orchestrated(options, zones, drive))
        print(f"\norchestrated: {timing}", flush=True)
        tasks = _tasks(settings.sqlite_path.parent / "batch" / "pool.sqlite3")
        pool_task_s = sum((t.ended_at or 0) - (t.started_at or 0) for t in tasks)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        reference_s = _run_directly(tasks, env)
        zones.close()
        runtime.reset()
    overhead = (timing["upload_to_extracted_s"] - reference_s) / reference_s * 100
    row = {
        "drive_bytes": generated.total_bytes,
        "tasks": len(tasks),
        "cores": os.cpu_count(),
        **{k: round(v, 1) for k, v in timing.items()},
        "pool_task_seconds_sum": round(pool_task_s, 1),
        "direct_tasks_seconds_sum": round(reference_s, 1),
        "overhead_percent": round(overhead, 1),
    }
    write_results("bench_extract_orchestration", row)
    print()
    print(json.dumps(row, indent=2))
