"""Activities run in parallel: CPU-bound ones in separate processes, not behind one GIL."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from devhost.db import Database
from devhost.durable.activities import RoutingRunner, process_runner, thread_runner
from devhost.durable.engine import DurableEngine
from devhost.durable.store import RuntimeStatus
from devhost.durable.worker import DurableWorker
from devhost.registry import Registry
from tests.devhost.conftest import SAMPLE_APP, read_records


async def _run_to_completion(
    engine: DurableEngine, worker: DurableWorker, instance_id: str
) -> None:
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(1200):
            inst = engine.get_instance(instance_id)
            if (
                inst is not None
                and inst.status is not RuntimeStatus.RUNNING
                and inst.status is not RuntimeStatus.PENDING
            ):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{instance_id} did not finish")
    finally:
        await worker.stop()
        task.cancel()


def test_cpu_bound_activities_run_in_parallel_processes(
    tmp_path: Path, sample_registry: Registry, out_file: Path
) -> None:
    engine = DurableEngine(Database(tmp_path / "p.sqlite"), sample_registry)
    procs = process_runner(SAMPLE_APP, 2)
    threads = thread_runner(sample_registry, 2)
    # Per-activity choice: burn_cpu goes to processes, everything else to threads.
    runner = RoutingRunner(threads, {"burn_cpu": procs})
    worker = DurableWorker(engine, runner, concurrency=4, idle_poll_s=0.05)
    try:
        asyncio.run(_heavy(engine, worker))
    finally:
        runner.close()
    cpu = [r for r in read_records(out_file, "cpu") if r["end"] - r["start"] > 0.05]
    assert len(cpu) == 2
    pids = {r["pid"] for r in cpu}
    assert len(pids) == 2
    assert os.getpid() not in pids
    first, second = sorted(cpu, key=lambda r: r["start"])
    assert second["start"] < first["end"], "the two CPU-bound activities did not overlap"


async def _heavy(engine: DurableEngine, worker: DurableWorker) -> None:
    # Warm-up: both pool processes exist and have imported the app before the measured pair.
    engine.start_new("fan_out", "warm", json.dumps({"n": 4, "activity": "burn_cpu"}))
    engine.start_new("cpu_pair", "cpu2", json.dumps(12_000_000))
    await _run_to_completion(engine, worker, "cpu2")
    inst = engine.get_instance("cpu2")
    assert inst is not None
    assert inst.status is RuntimeStatus.COMPLETED, inst.error


def test_dead_worker_process_fails_the_activity_and_the_pool_recovers(
    tmp_path: Path, sample_registry: Registry, out_file: Path
) -> None:
    engine = DurableEngine(Database(tmp_path / "d.sqlite"), sample_registry)
    runner = process_runner(SAMPLE_APP, 1)
    worker = DurableWorker(engine, runner, concurrency=2, idle_poll_s=0.05)

    async def run() -> None:
        engine.start_new("calls_dying_activity", "dying")
        await _run_to_completion(engine, worker, "dying")

    try:
        asyncio.run(run())
    finally:
        runner.close()
    inst = engine.get_instance("dying")
    assert inst is not None
    assert inst.status is RuntimeStatus.COMPLETED, inst.error
    result = json.loads(inst.output or "{}")
    assert "worker process died" in result["first"]
    assert result["after"] == "Hello survivor"
