"""A fault-injecting HTTP proxy for the tests: in front of Azurite or cosmosdb-server.

``with FaultProxy(upstream, FaultSchedule(seed=...)) as proxy`` listens on 127.0.0.1 and
forwards every request to ``upstream``; the app reaches it only through its settings (a
storage connection string whose BlobEndpoint is ``proxy.url``, or the cosmos endpoint). By a
seeded schedule it answers some requests itself, before they reach the service:

* ``throttle``: the service's own throttling answer. Cosmos DB sends ``429`` with
  ``x-ms-retry-after-ms``; Azure Storage never sends 429, it throttles with ``503``
  ``ServerBusy`` (which its SDK retries, unlike a 429), so ``service="storage"`` answers that;
* ``503``: the service is briefly unavailable;
* ``412``: a conditional request (``If-Match``) loses a race with another writer;

and for others it forwards the request, so the service applies it, then drops the connection
halfway through the response body (``drop``): the client saw neither the answer nor its end.
After a fault the next ``quiet_after`` requests pass, so every retry can make progress.
An ``intercept`` answers chosen requests the same way every time instead (a service state
the emulator lacks, e.g. a WORM-locked blob); it is checked before the schedule.
Each fault is logged in :attr:`FaultProxy.injected` (method, path, kind) for the tests to check.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

from dataops.lifecycle import RunningWhileEntered

__all__ = ["FAULT_KINDS", "Canned", "FaultProxy", "FaultSchedule", "Injected", "Intercept"]

FAULT_KINDS = ("throttle", "503", "412", "drop")
# Each service's own throttling answer (see the module docstring).
_THROTTLES: dict[str, dict[str, Any]] = {
    "storage": {
        "status": 503,
        "headers": {"x-ms-error-code": "ServerBusy", "Retry-After": "1"},
        "content_type": "application/xml",
        "text": "<Error><Code>ServerBusy</Code><Message>injected throttle</Message></Error>",
    },
    "cosmos": {
        "status": 429,
        "headers": {"Retry-After": "1", "x-ms-retry-after-ms": "200"},
        "content_type": "application/json",
        "text": '{"code": "TooManyRequests", "message": "injected throttle"}',
    },
}
# Hop-by-hop headers and those aiohttp sets itself: never copied across the proxy.
_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "upgrade",
}


@dataclass(frozen=True)
class Injected:
    """One fault the proxy injected."""

    method: str
    path: str
    kind: str


@dataclass(frozen=True)
class Canned:
    """An answer the proxy gives instead of the service's (logged with kind ``canned``)."""

    status: int
    headers: dict[str, str]
    body: str
    content_type: str = "application/xml"


Intercept = Callable[[str, str], Canned | None]
"""(method, path) -> the answer to give, or None to go on to the schedule and the service."""


@dataclass
class FaultSchedule:
    """Which request gets which fault: seeded, so a failing run can be replayed exactly."""

    seed: int
    rate: float = 0.2
    kinds: Iterable[str] = FAULT_KINDS
    quiet_after: int = 1
    race_methods: Iterable[str] = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
    """Methods whose conditional requests may get a 412."""
    _random: random.Random = field(init=False, repr=False)
    _quiet: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {FAULT_KINDS}")
        self.race_methods = tuple(self.race_methods)
        self._random = random.Random(self.seed)

    def next_fault(self, *, conditional: bool, method: str = "GET") -> str | None:
        """The fault for the next request, or None; 412 only for conditional requests."""
        conditional = conditional and method in self.race_methods
        roll = self._random.random()
        kind: str = self._random.choice(tuple(self.kinds))  # drawn every time: one sequence
        if self._quiet > 0:
            self._quiet -= 1
            return None
        if roll >= self.rate or (kind == "412" and not conditional):
            return None
        self._quiet = self.quiet_after
        return kind


class FaultProxy(RunningWhileEntered):
    """The proxy; a context manager that runs it on its own thread and event loop."""

    def __init__(
        self,
        upstream: str,
        schedule: FaultSchedule,
        *,
        service: Literal["storage", "cosmos"],
        intercept: Intercept | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.service = service
        self.schedule = schedule
        self.intercept = intercept
        self.injected: list[Injected] = []
        self.forwarded = 0
        self.enabled = True
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def kinds_injected(self) -> set[str]:
        """The fault kinds injected so far."""
        return {item.kind for item in self.injected}

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the event loop's thread and listen on a free port."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    def stop(self) -> None:
        """Stop listening, then the event loop and its thread."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _start(self) -> None:
        tls = ssl.create_default_context()
        # Only ever the local cosmosdb-server's self-signed certificate.
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=tls), auto_decompress=False
        )
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # --- requests -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        canned = (
            self.intercept(request.method, request.path)
            if self.enabled and self.intercept
            else None
        )
        if canned is not None:
            self.injected.append(Injected(request.method, request.path, "canned"))
            return web.Response(
                status=canned.status,
                headers=canned.headers,
                content_type=canned.content_type,
                text=canned.body,
            )
        conditional = "If-Match" in request.headers
        fault = (
            self.schedule.next_fault(conditional=conditional, method=request.method)
            if self.enabled
            else None
        )
        if fault is not None:
            self.injected.append(Injected(request.method, request.path, fault))
        if fault == "throttle":
            return web.Response(**_THROTTLES[self.service])
        if fault == "503":
            return web.Response(
                status=503,
                content_type="application/json",
                text='{"code": "ServiceUnavailable", "message": "injected outage"}',
            )
        if fault == "412":
            return web.Response(
                status=412,
                headers={"x-ms-error-code": "ConditionNotMet"},
                content_type="application/json",
                text='{"code": "PreconditionFailed", "message": "injected lost race"}',
            )
        return await self._forward(request, body, drop=fault == "drop")

    async def _forward(
        self, request: web.Request, body: bytes, *, drop: bool
    ) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            # Storage signs Content-Type: never add one the client did not send.
            skip_auto_headers=("Content-Type",),
        ) as upstream:
            payload = await upstream.read()
            self.forwarded += 1
            # Cosmos names its own endpoint in the account document; the client must come
            # back here, not go round the proxy.
            payload = payload.replace(self.upstream.encode(), self.url.encode())
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP:
                    response.headers.add(key, value)
            response.content_length = len(payload)
            await response.prepare(request)
            if drop:
                # Half the body, then the connection goes: the service did the work, the
                # client never saw it finished.
                await response.write(payload[: len(payload) // 2])
                transport = request.transport
                if transport is not None:
                    transport.abort()
                return response
            await response.write(payload)
            await response.write_eof()
            return response
