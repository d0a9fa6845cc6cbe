"""Async driver of the engine: steps orchestrations, runs activities in parallel, fires timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from devhost.durable.activities import ActivityRunner
from devhost.durable.engine import DurableEngine
from devhost.durable.store import WorkItem
from devhost.invoke import ActivityOutcome

__all__ = ["DurableWorker"]

log = logging.getLogger(__name__)


class DurableWorker:
    """Runs on the host's event loop until :meth:`stop`.

    Nothing on the loop waits for SQLite: replay rounds and the settling of activity work
    (results committed, more work claimed, one transaction) run in threads. Up to ``prefetch``
    claimed items wait in memory beyond the ``concurrency`` that run, so a slot whose activity
    ends starts the next one at once, also while a replay holds the database.
    """

    def __init__(
        self,
        engine: DurableEngine,
        runner: ActivityRunner,
        *,
        concurrency: int = 8,
        idle_poll_s: float = 1.0,
        batch_window_s: float = 0.5,
        prefetch: int | None = None,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.concurrency = concurrency
        self.prefetch = concurrency if prefetch is None else prefetch
        self.idle_poll_s = idle_poll_s
        self.batch_window_s = batch_window_s
        self._wake = asyncio.Event()
        self._stopping = False
        # Slot tasks: each runs one activity at a time, then the next claimed one.
        self._inflight: set[asyncio.Task[None]] = set()
        # Claimed (marked running in the store) but not started yet.
        self._queued: deque[WorkItem] = deque()
        self._finished: list[tuple[WorkItem, ActivityOutcome]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._replay: asyncio.Task[int] | None = None
        # Earliest pending message (a timer) as the last replay round left it: timers are only
        # created by replay rounds, so the loop need not ask the database on every wake-up.
        self._next_timer_at: float | None = None
        self._settling: asyncio.Task[list[WorkItem]] | None = None
        # Bumped by every wake-up: a replay round that ends with news that came in meanwhile
        # (or that made progress) starts the next round at once; otherwise the loop sleeps.
        self._changes = 0

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
            self._poke()
        else:
            loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        self._changes += 1
        self._wake.set()

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
            self._start_settling()
            # Replays run in a thread so that HTTP and event handlers on this loop stay
            # responsive while a long history replays (SQLite access is serialized by Database),
            # and in the background: activity slots keep running while it replays.
            self._start_replay()
            timeout = self.idle_poll_s if not self._inflight else self.batch_window_s
            next_at = self._next_timer_at
            if next_at is not None:
                # Messages visible already are the replay round's business (it wakes the loop
                # when it ends); only a future one (a timer) shortens the wait. Waiting 0 for a
                # visible message that a batching hold keeps back would spin the loop.
                ahead = next_at - self.engine.clock.now().timestamp()
                if ahead > 0 or self._replay is None:
                    timeout = max(0.0, min(timeout, ahead))
            if timeout == 0.0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _start_settling(self) -> None:
        settling = self._settling
        if settling is not None:
            if not settling.done():
                return
            self._settling = None
            settling.result()  # a failed commit stops the worker, as it always did
        wanted = self.concurrency + self.prefetch - len(self._inflight) - len(self._queued)
        if not self._finished and wanted <= 0:
            return
        finished, self._finished = self._finished, []
        self._settling = asyncio.create_task(
            asyncio.to_thread(self.engine.settle_work, finished, wanted)
        )

        def settled(task: asyncio.Task[list[WorkItem]]) -> None:
            if task.cancelled() or task.exception() is not None:
                self._wake.set()  # the loop re-raises it
                return
            claimed = task.result()
            self._queued.extend(claimed)
            self._fill_slots()
            if claimed or self._finished:
                self._wake.set()

        self._settling.add_done_callback(settled)

    def _fill_slots(self) -> None:
        while self._queued and len(self._inflight) < self.concurrency and not self._stopping:
            task = asyncio.create_task(self._run_slot(self._queued.popleft()))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _start_replay(self) -> None:
        replay = self._replay
        if replay is not None:
            if not replay.done():
                return
            replay.result()  # a failed replay round stops the worker, as it always did
        changes_before = self._changes
        self._replay = asyncio.create_task(asyncio.to_thread(self._replay_round))

        def ended(task: asyncio.Task[int]) -> None:
            # Progress or news during the round: another round now. Neither: only messages a
            # batching hold keeps back are left, and the loop's timeout comes back for them.
            progressed = not task.cancelled() and task.exception() is None and task.result() > 0
            if progressed or self._changes != changes_before:
                self._wake.set()

        self._replay.add_done_callback(ended)

    def _replay_round(self) -> int:
        """In a thread: step every ready instance, then note when the next timer is due."""
        steps = self.engine.process_ready(self.batch_window_s)
        self._next_timer_at = self.engine.next_timer_at()
        return steps

    async def _run_slot(self, item: WorkItem) -> None:
        """Run ``item``, then claimed items from the queue until it is empty."""
        while True:
            outcome = await self.runner.run(item)
            if self._stopping:
                return  # the host is going down: the item stays 'running' and re-runs on restart
            self._finished.append((item, outcome))
            self._poke()
            if not self._queued:
                return
            item = self._queued.popleft()

    async def stop(self) -> None:
        """Stop taking work; in-flight and queued activities are abandoned and re-run after a
        restart (the store has them as running)."""
        self._stopping = True
        self._wake.set()
        for task in list(self._inflight):
            task.cancel()
        for background in (self._settling, self._replay):
            if background is not None:
                # A thread cannot be interrupted; its transaction commits or rolls back.
                try:
                    await background
                except Exception:
                    log.warning("background work failed while stopping", exc_info=True)
