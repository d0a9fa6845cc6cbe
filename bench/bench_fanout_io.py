"""devhost I/O-bound fan-out: 1,000 activities that each wait 50 ms, at host.json's concurrency.

The app (tests/devhost/apps/hostjson) sets ``maxConcurrentActivityFunctions`` to 6 in its
host.json; devhost runs that many at once whatever the CPU count. Reference, computed for the
same run: the ideal wall time ``ceil(1000 / 6) x 50 ms`` (every slot always busy, zero
overhead). Target: within 1.5x of it. A second run with 2 slots (the old CPU-count cap on
this machine) shows what the setting buys.

Run with ``make bench`` (``pytest bench -m bench -s``); results go to bench/results/.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions

APP = Path(__file__).resolve().parents[1] / "tests" / "devhost" / "apps" / "hostjson"
RESULTS = Path(__file__).resolve().parent / "results"
ACTIVITIES = 1000
WAIT_S = 0.05


async def _fan_out(options: HostOptions) -> dict[str, Any]:
    host = DevHost(options)
    await host.start()
    try:
        started = time.perf_counter()
        cpu_started = time.process_time()
        host.engine.start_new("io_fan_out", "fan", json.dumps({"n": ACTIVITIES, "seconds": WAIT_S}))
        while True:
            # From a thread, as an HTTP client would poll: never the host's loop waiting on
            # the database while a replay holds it.
            inst = await asyncio.to_thread(host.engine.get_instance, "fan")
            assert inst is not None
            if inst.status is RuntimeStatus.COMPLETED:
                break
            assert inst.status is not RuntimeStatus.FAILED, inst.error
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        slots = host.activity_concurrency
        ideal = math.ceil(ACTIVITIES / slots) * WAIT_S
        return {
            "slots": slots,
            "peak_concurrent": json.loads(inst.output or "0"),
            "seconds": round(seconds, 2),
            "ideal_s": round(ideal, 2),
            "ratio": round(seconds / ideal, 2),
            "host_cpu_ms_per_activity": round(1000 * cpu_s / ACTIVITIES, 2),
        }
    finally:
        await host.stop()


@pytest.mark.bench
def test_io_fan_out_runs_at_the_configured_concurrency(tmp_path: Path) -> None:
    """1,000 x 50 ms at host.json's 6 slots, within 1.5x of the ideal; and at 2 slots."""
    runs = []
    for label, limit in (("host.json", None), ("2 slots", 2)):
        options = HostOptions(
            app_root=APP,
            state_dir=tmp_path / label.replace(" ", "_"),
            port=0,
            activity_mode="thread",
            concurrency=limit,
            activity_workers=limit,
        )
        runs.append({"config": label, **asyncio.run(_fan_out(options))})
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_fanout_io.json").write_text(json.dumps(runs, indent=2) + "\n")
    print()
    print("config      slots  peak  seconds  ideal s  ratio  host CPU ms/activity")
    for run in runs:
        print(
            f"{run['config']:<11} {run['slots']:>5} {run['peak_concurrent']:>5} "
            f"{run['seconds']:>8} {run['ideal_s']:>8} {run['ratio']:>6} "
            f"{run['host_cpu_ms_per_activity']:>20}"
        )
    configured = runs[0]
    assert configured["slots"] == 6
    assert configured["peak_concurrent"] == 6
    assert configured["ratio"] <= 1.5, configured
