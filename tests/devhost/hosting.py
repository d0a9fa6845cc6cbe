"""Helpers to run a DevHost inside a test on one event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from devhost.host import DevHost, HostOptions


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


def client(host: DevHost) -> httpx.AsyncClient:
    """An HTTP client for the host's base URL."""
    return httpx.AsyncClient(base_url=host.base_url, timeout=30)
