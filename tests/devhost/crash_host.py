"""Subprocess of the crash/resume test: runs the engine, dies with os._exit mid fan-out.

Usage: python -m tests.devhost.crash_host DB OUT (crash|resume) N
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

from devhost.db import Database
from devhost.durable.activities import thread_runner
from devhost.durable.engine import DurableEngine
from devhost.durable.store import RuntimeStatus
from devhost.durable.worker import DurableWorker
from devhost.loader import load_app
from devhost.registry import Registry

SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
CRASH_AFTER_ENDS = 4


def _ends(out: Path) -> int:
    if not out.exists():
        return 0
    return sum(1 for line in out.read_text().splitlines() if '"kind": "end"' in line)


def _watchdog(out: Path) -> None:
    # Dies like a killed host: no cleanup, no flush of anything not yet committed.
    while _ends(out) < CRASH_AFTER_ENDS:
        time.sleep(0.005)
    os._exit(17)


async def _run(db_path: Path, mode: str, n: int) -> int:
    registry = Registry.from_app(load_app(SAMPLE_APP))
    engine = DurableEngine(Database(db_path), registry)
    worker = DurableWorker(engine, thread_runner(registry, 3), concurrency=3, idle_poll_s=0.05)
    if mode == "crash":
        engine.start_new("slow_fan_out", "crash-1", json.dumps({"n": n, "sleep": 0.15}))
    task = asyncio.create_task(worker.run())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        inst = engine.get_instance("crash-1")
        if inst is not None and inst.status is RuntimeStatus.COMPLETED:
            await worker.stop()
            task.cancel()
            print(inst.output)
            return 0
        await asyncio.sleep(0.05)
    return 1


def main() -> int:
    """Entry point."""
    db_path, out, mode, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    os.environ["SAMPLE_APP_OUT"] = str(out)
    if mode == "crash":
        threading.Thread(target=_watchdog, args=(out,), daemon=True).start()
    return asyncio.run(_run(db_path, mode, n))


if __name__ == "__main__":
    sys.exit(main())
