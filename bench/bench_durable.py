"""Durable engine benchmark: a 1,000-way fan-out of no-op activities.

Reference, measured in the same run: calling the same ``noop`` function directly 1,000 times in
a loop. Reported: wall time, instances per second, and overhead per activity (durable minus direct,
divided by the number of activities), for thread and process activity workers.

Run with ``make bench`` (``pytest bench -m bench -s``); results go to bench/results/.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from bench._common import write_results
from devhost.db import Database
from devhost.durable.activities import ActivityRunner, process_runner, thread_runner
from devhost.durable.engine import DurableEngine
from devhost.durable.store import RuntimeStatus
from devhost.durable.worker import DurableWorker
from devhost.loader import load_app
from devhost.registry import Registry

APP = Path(__file__).resolve().parents[1] / "tests" / "devhost" / "apps" / "sample"
FAN_OUT = 1000
SMALL_INSTANCES = 50


async def _run_instances(
    engine: DurableEngine, worker: DurableWorker, starts: list[tuple[str, str, str]]
) -> float:
    task = asyncio.create_task(worker.run())
    t0 = time.perf_counter()
    for name, instance_id, input_json in starts:
        engine.start_new(name, instance_id, input_json)
    ids = [s[1] for s in starts]
    while True:
        done = 0
        for instance_id in ids:
            inst = engine.get_instance(instance_id)
            assert inst is not None
            assert inst.status is not RuntimeStatus.FAILED, inst.error
            done += inst.status is RuntimeStatus.COMPLETED
        if done == len(ids):
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    await worker.stop()
    task.cancel()
    return elapsed


def _measure(tmp: Path, registry: Registry, runner_kind: str) -> dict[str, Any]:
    runner: ActivityRunner = (
        thread_runner(registry, 4) if runner_kind == "thread" else process_runner(APP, 2)
    )
    try:
        if runner_kind == "process":
            # Warm the pool so that process start-up is not billed to the first activity.
            warm = DurableEngine(Database(tmp / f"warm-{runner_kind}.sqlite3"), registry)
            asyncio.run(
                _run_instances(
                    warm,
                    DurableWorker(warm, runner, concurrency=8, idle_poll_s=0.01),
                    [("fan_out", "warm", json.dumps({"n": 8, "activity": "noop"}))],
                )
            )
        engine = DurableEngine(Database(tmp / f"fan-{runner_kind}.sqlite3"), registry)
        worker = DurableWorker(engine, runner, concurrency=64, idle_poll_s=0.01)
        fan_s = asyncio.run(
            _run_instances(
                engine, worker, [("fan_out", "fan", json.dumps({"n": FAN_OUT, "activity": "noop"}))]
            )
        )
        engine2 = DurableEngine(Database(tmp / f"small-{runner_kind}.sqlite3"), registry)
        worker2 = DurableWorker(engine2, runner, concurrency=64, idle_poll_s=0.01)
        small_s = asyncio.run(
            _run_instances(
                engine2,
                worker2,
                [("hello_seq", f"i{i}", json.dumps(["a"])) for i in range(SMALL_INSTANCES)],
            )
        )
    finally:
        runner.close()
    return {"fan_out_s": fan_s, "small_instances_s": small_s}


@pytest.mark.bench
def test_bench_fan_out_1000(tmp_path: Path) -> None:
    registry = Registry.from_app(load_app(APP))
    noop = registry.get("noop").user_function

    t0 = time.perf_counter()
    for i in range(FAN_OUT):
        noop(i)
    direct_s = time.perf_counter() - t0

    report: dict[str, Any] = {"fan_out": FAN_OUT, "direct_loop_s": direct_s, "runners": {}}
    for kind in ("thread", "process"):
        result = _measure(tmp_path, registry, kind)
        result["overhead_per_activity_ms"] = (result["fan_out_s"] - direct_s) / FAN_OUT * 1000
        result["activities_per_s"] = FAN_OUT / result["fan_out_s"]
        result["instances_per_s"] = SMALL_INSTANCES / result["small_instances_s"]
        report["runners"][kind] = result

    write_results("bench_durable", report)
    print(f"\ndirect loop of {FAN_OUT} noop calls: {direct_s * 1000:.2f} ms")
    for kind, r in report["runners"].items():
        print(
            f"{kind:>7}: fan-out {r['fan_out_s']:.2f} s ({r['activities_per_s']:.0f} activities/s, "
            f"overhead {r['overhead_per_activity_ms']:.2f} ms/activity); "
            f"{SMALL_INSTANCES} x 3-activity instances in {r['small_instances_s']:.2f} s "
            f"({r['instances_per_s']:.1f} instances/s)"
        )
    assert report["runners"]["thread"]["fan_out_s"] > direct_s
