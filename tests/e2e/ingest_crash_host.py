"""Subprocess for the ingest crash tests: our app under devhost, dying at a chosen point.

Usage: python -m tests.e2e.ingest_crash_host STATE_DIR PREFIX (before-delete|after-delete|resume)

The app's settings come from the environment the test passes. Activities run in threads, so
``os._exit`` inside one kills the whole host the way a crashed Functions host dies: no cleanup,
nothing flushed that was not committed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from activities import ingest as ingest_activities
from dataops.ids import instance_id_for
from devhost.host import DevHost
from tests.e2e.crash_hosting import CRASH_EXIT, crash_host_options, print_when_final


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
    host = DevHost(crash_host_options(state_dir))
    await host.start()
    try:
        return await print_when_final(host, instance_id_for("ingest", prefix))
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
