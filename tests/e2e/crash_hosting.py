"""What the crash-host subprocesses share: their host, their wait, and how tests start them.

A crash host (``tests.e2e.ingest_crash_host``, ``tests.e2e.erasure_crash_host``) runs our app
under devhost in a process of its own, so ``os._exit`` in an activity kills it the way a
crashed Functions host dies; the test then starts it again on the same state to resume.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions

__all__ = ["CRASH_EXIT", "ROOT", "crash_host_options", "print_when_final", "run_crash_host"]

ROOT = Path(__file__).resolve().parents[2]
CRASH_EXIT = 17


def crash_host_options(state_dir: Path, **overrides: Any) -> HostOptions:
    """The app with thread activities, on the storage account the test's environment names."""
    values: dict[str, Any] = {
        "app_root": ROOT,
        "state_dir": state_dir,
        "port": 0,
        "function_key": "crash-key",
        "activity_mode": "thread",
        "subscriptions_path": ROOT / "infra" / "eventgrid-subscriptions.json",
        "storage_connection_string": os.environ["AVOPS_STORAGE_CONNECTION_STRING"],
        "poll_interval_s": 0.05,
        "delivery_backoff_s": 0.05,
    }
    values.update(overrides)
    return HostOptions(**values)


async def print_when_final(host: DevHost, instance_id: str) -> int:
    """Wait for the instance to complete or fail, print its status and output as JSON: 0;
    1 when it did not end within two minutes."""
    for _ in range(2400):
        found = host.engine.get_instance(instance_id)
        if found is not None and found.status in (RuntimeStatus.COMPLETED, RuntimeStatus.FAILED):
            print(json.dumps({"status": found.status.value, "output": found.output}))
            return 0
        await asyncio.sleep(0.05)
    return 1


def run_crash_host(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args...`` with the test's environment; never raises on exit."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
