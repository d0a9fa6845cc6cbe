"""Async driver of the engine: steps orchestrations, runs activities in parallel, fires timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from devhost.durable.activities import ActivityRunner
from devhost.durable.engine import DurableEngine
from devhost.durable.store import WorkItem
from devhost.invoke import ActivityOutcome

__all__ = ["DurableWorker"]

log = logging.getLogger(__name__)


class DurableWorker:
    """Runs on the host's event loop until :meth:`stop`."""

    def __init__(
        self,
        engine: DurableEngine,
        runner: ActivityRunner,
        *,
        concurrency: int = 8,
        idle_poll_s: float = 1.0,
        batch_window_s: float = 0.5,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.concurrency = concurrency
        self.idle_poll_s = idle_poll_s
        self.batch_window_s = batch_window_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._finished: list[tuple[WorkItem, ActivityOutcome]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Ask the loop to look for work now (thread-safe)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Main loop."""
        self._loop = asyncio.get_running_loop()
        self.engine.on_change = self.wake
        requeued = self.engine.recover()
        if requeued:
            log.warning(
                "re-running %d activities that were in flight at the last shutdown", requeued
            )
        while not self._stopping:
            self._wake.clear()
            # Results are committed together and then replayed together: replay cost grows with
            # history length, so one pass per batch of completions instead of one per completion.
            finished, self._finished = self._finished, []
            self.engine.complete_work_batch(finished)
            # Replays run in a thread so that HTTP and event handlers on this loop stay
            # responsive while a long history replays (SQLite access is serialized by Database).
            await asyncio.to_thread(self.engine.process_ready, self.batch_window_s)
            free = self.concurrency - len(self._inflight)
            if free > 0:
                for item in self.engine.claim_work(free):
                    task = asyncio.create_task(self._run_item(item))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
            timeout = self.idle_poll_s if not self._inflight else self.batch_window_s
            next_at = self.engine.next_timer_at()
            if next_at is not None:
                timeout = max(0.0, min(timeout, next_at - self.engine.clock.now().timestamp()))
            if timeout == 0.0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _run_item(self, item: WorkItem) -> None:
        outcome = await self.runner.run(item)
        if self._stopping:
            return  # the host is going down: the item stays 'running' and re-runs on restart
        self._finished.append((item, outcome))
        self._wake.set()

    async def stop(self) -> None:
        """Stop taking work; in-flight activities are abandoned and re-run after a restart."""
        self._stopping = True
        self._wake.set()
        for task in list(self._inflight):
            task.cancel()
