"""Subprocess for the erasure crash tests: our app under devhost, dying mid-erasure.

Usage: python -m tests.e2e.erasure_crash_host STATE_DIR VEHICLE (after-blobs|before-store|resume)

``after-blobs``: ``erase_blobs`` deletes the target's blobs, then the host dies before the
step's result is recorded. ``before-store``: the host dies as ``erase_store`` starts, after
blobs and batch pool were done and recorded. Both first ask the API to erase VEHICLE.
``resume``: the host starts on the same state and waits for the erasure run to end; prints
its status and output. Activities run in threads, so ``os._exit`` in one kills the whole host
the way a crashed Functions host dies: no cleanup, nothing flushed that was not committed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from activities import erasure as erasure_activities
from dataops.erasure.identity import ErasureTarget, TargetKind
from dataops.erasure.steps import erase_instance_id
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions
from tests.e2e.erasure_support import ERASE_KEY, SALT

ROOT = Path(__file__).resolve().parents[2]
CRASH_EXIT = 17
# The activity attribute each crash point replaces, and whether the real step runs first.
CRASH_POINTS = {"after-blobs": ("blobs", True), "before-store": ("documents", False)}


def inject_crash(mode: str) -> None:
    """Replace one erasure activity by one that kills the process around the real work."""
    attribute, work_first = CRASH_POINTS[mode]
    real = getattr(erasure_activities, attribute)

    def crashing(params: dict[str, Any]) -> dict[str, Any]:
        if work_first:
            real(params)
        os._exit(CRASH_EXIT)

    setattr(erasure_activities, attribute, crashing)


async def run(state_dir: Path, vehicle: str, *, request: bool) -> int:
    options = HostOptions(
        app_root=ROOT,
        state_dir=state_dir,
        port=0,
        function_key="crash-key",
        named_function_keys={"eraser": ERASE_KEY},
        activity_mode="thread",
        subscriptions_path=ROOT / "infra" / "eventgrid-subscriptions.json",
        storage_connection_string=os.environ["AVOPS_STORAGE_CONNECTION_STRING"],
        poll_interval_s=0.05,
        delivery_backoff_s=0.05,
    )
    host = DevHost(options)
    await host.start()
    try:
        if request:
            async with httpx.AsyncClient(timeout=120) as http:
                started = await http.post(
                    f"{host.base_url}/api/vehicles/{vehicle}/erase",
                    headers={"x-functions-key": ERASE_KEY},
                )
            if started.status_code != 202:
                print(json.dumps({"request": started.status_code, "body": started.text}))
                return 2
        target = ErasureTarget(TargetKind.VEHICLE, vehicle)
        instance_id = erase_instance_id(target.erasure_id(SALT))
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
    state_dir, vehicle, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode != "resume":
        inject_crash(mode)
    return asyncio.run(run(state_dir, vehicle, request=mode != "resume"))


if __name__ == "__main__":
    sys.exit(main())
