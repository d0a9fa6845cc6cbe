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
from devhost.host import DevHost
from tests.e2e.crash_hosting import CRASH_EXIT, crash_host_options, print_when_final
from tests.e2e.erasure_support import ERASE_KEY, SALT

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
    host = DevHost(crash_host_options(state_dir, named_function_keys={"eraser": ERASE_KEY}))
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
        return await print_when_final(host, erase_instance_id(target.erasure_id(SALT)))
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
