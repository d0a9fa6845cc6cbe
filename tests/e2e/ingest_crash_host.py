"""Subprocess for the ingest crash tests: our app under devhost, dying at a chosen point.

Usage: python -m tests.e2e.ingest_crash_host STATE_DIR PREFIX (before-delete|after-delete|resume)

The app's settings come from the environment the test passes. Activities run in threads, so
``os._exit`` inside one kills the whole host the way a crashed Functions host dies: no cleanup,
nothing flushed that was not committed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from activities import ingest as ingest_activities
from dataops.ids import instance_id_for
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions

ROOT = Path(__file__).resolve().parents[2]
CRASH_EXIT = 17


def inject_crash(mode: str) -> None:
    """Make the landing delete kill the process just before or just after it does its work."""
    real = ingest_activities.delete_landing

    def crashing(params: dict[str, Any]) -> dict[str, Any]:
        if mode == "before-delete":
            os._exit(CRASH_EXIT)
        result = real(params)
        os._exit(CRASH_EXIT)
        return result  # pragma: no cover - never reached

    ingest_activities.delete_landing = crashing


async def run(state_dir: Path, prefix: str) -> int:
    options = HostOptions(
        app_root=ROOT,
        state_dir=state_dir,
        port=0,
        function_key="crash-key",
        activity_mode="thread",
        subscriptions_path=ROOT / "infra" / "eventgrid-subscriptions.json",
        storage_connection_string=os.environ["AVOPS_STORAGE_CONNECTION_STRING"],
        poll_interval_s=0.05,
        delivery_backoff_s=0.05,
    )
    host = DevHost(options)
    await host.start()
    try:
        instance_id = instance_id_for("ingest", prefix)
        for _ in range(2400):
            found = host.engine.get_instance(instance_id)
            if found is not None and found.status in (
                RuntimeStatus.COMPLETED,
                RuntimeStatus.FAILED,
            ):
                print(json.dumps({"status": found.status.value, "output": found.output}))
                return 0
            await asyncio.sleep(0.05)
        return 1
    finally:
        await host.stop()


def main() -> int:
    """Entry point."""
    state_dir, prefix, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode != "resume":
        inject_crash(mode)
    return asyncio.run(run(state_dir, prefix))


if __name__ == "__main__":
    sys.exit(main())
