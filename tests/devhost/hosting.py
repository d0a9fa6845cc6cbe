"""Helpers to run a DevHost inside a test on one event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions
from tests.devhost.conftest import SAMPLE_APP


def sample_app_options(tmp_path: Path, function_key: str = "k", **extra: Any) -> HostOptions:
    """A host of the sample app on a free port: activities in threads, state under
    ``tmp_path``, fast event polling; ``extra`` sets any other option."""
    return HostOptions(
        app_root=SAMPLE_APP,
        state_dir=tmp_path / "state",
        port=0,
        activity_mode="thread",
        function_key=function_key,
        poll_interval_s=0.05,
        **extra,
    )


def run_with_host(options: HostOptions, body: Callable[[DevHost], Awaitable[Any]]) -> Any:
    """Start a host on a free port, run ``body(host)``, stop the host; one loop for everything."""

    async def main() -> Any:
        host = DevHost(options)
        await host.start()
        try:
            return await body(host)
        finally:
            await host.stop()

    return asyncio.run(main())


async def wait_until(
    predicate: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` (the host runs on the same loop while we sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_for_status(
    host: DevHost, instance_id: str, status: RuntimeStatus, what: str
) -> None:
    """Wait until the instance exists and has reached ``status``."""

    def reached() -> bool:
        inst = host.engine.get_instance(instance_id)
        return inst is not None and inst.status is status

    await wait_until(reached, what=what)


def client(host: DevHost) -> httpx.AsyncClient:
    """An HTTP client for the host's base URL."""
    return httpx.AsyncClient(base_url=host.base_url, timeout=30)
