"""Where activities run: in-line, in threads, or in a process pool (CPU-bound work and the GIL).

The process pool uses the ``spawn`` start method: each child imports the app itself from the app
root (the parent passes the root and function names, never callables), like a worker process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Protocol

from devhost.durable.store import WorkItem
from devhost.errors import UnknownFunctionError
from devhost.invoke import ActivityOutcome, run_activity
from devhost.registry import Registry, TriggerType

__all__ = [
    "ActivityRunner",
    "PoolRunner",
    "RoutingRunner",
    "process_runner",
    "thread_runner",
]

log = logging.getLogger(__name__)


class ActivityRunner(Protocol):
    """Runs one activity invocation and reports its outcome; never raises for user errors."""

    async def run(self, item: WorkItem) -> ActivityOutcome:
        """Run ``item``."""
        ...

    def close(self) -> None:
        """Release threads or processes."""
        ...


# --- child-process side ---------------------------------------------------------------------
_CHILD_REGISTRY: Registry | None = None


def _init_child(app_root: str, parent_sys_path: list[str]) -> None:
    """Pool initializer: import the app once per child process."""
    global _CHILD_REGISTRY  # noqa: PLW0603 - one registry per child process is the point
    for entry in reversed(parent_sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    from devhost.loader import load_app

    logging.basicConfig(level=logging.WARNING)
    _CHILD_REGISTRY = Registry.from_app(load_app(Path(app_root)))


def _run_by_name(registry: Registry, name: str, input_json: str | None) -> ActivityOutcome:
    try:
        spec = registry.get(name, TriggerType.ACTIVITY)
    except UnknownFunctionError as err:
        return ActivityOutcome(ok=False, reason=str(err), details="UnknownFunctionError")
    return run_activity(spec, input_json)


def _run_in_child(name: str, input_json: str | None) -> ActivityOutcome:
    if _CHILD_REGISTRY is None:
        return ActivityOutcome(ok=False, reason="activity process has no app loaded")
    return _run_by_name(_CHILD_REGISTRY, name, input_json)


# --- parent side ----------------------------------------------------------------------------
class PoolRunner:
    """Runs activities on an executor (threads share the parent's registry)."""

    def __init__(
        self, make_executor: Callable[[], Executor], registry: Registry | None, kind: str
    ) -> None:
        self._make_executor = make_executor
        self._executor = make_executor()
        self._registry = registry
        self.kind = kind

    async def run(self, item: WorkItem) -> ActivityOutcome:
        """Submit to the pool and await the outcome."""
        loop = asyncio.get_running_loop()
        try:
            if self._registry is not None:
                return await loop.run_in_executor(
                    self._executor, _run_by_name, self._registry, item.name, item.input
                )
            return await loop.run_in_executor(self._executor, _run_in_child, item.name, item.input)
        except BrokenProcessPool as err:
            # A child died (os._exit, segfault, OOM kill): fail this attempt and start a new pool
            # so that the next activities run; retries of this one decide the rest.
            log.error(  # noqa: TRY400 - the traceback is the pool's, not the activity's
                "[%s] activity %s killed its worker process; starting a new pool",
                item.instance_id,
                item.name,
            )
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._make_executor()
            return ActivityOutcome(
                ok=False, reason=f"activity worker process died: {err!r}", requeue=True
            )
        except Exception as err:  # a pool that cannot run it fails this attempt, not the host
            log.exception("[%s] activity %s could not run", item.instance_id, item.name)
            return ActivityOutcome(ok=False, reason=f"activity worker failed: {err!r}")

    def close(self) -> None:
        """Shut the pool down without waiting for queued work (it is re-run from SQLite)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def thread_runner(registry: Registry, workers: int) -> PoolRunner:
    """Activities in threads of this process (I/O-bound work, tests)."""
    return PoolRunner(
        lambda: ThreadPoolExecutor(workers, thread_name_prefix="activity"), registry, "thread"
    )


def process_runner(app_root: Path, workers: int) -> PoolRunner:
    """Activities in spawned processes that import the app themselves (CPU-bound work)."""

    def make() -> Executor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=(str(app_root), list(sys.path)),
        )

    return PoolRunner(make, None, "process")


class RoutingRunner:
    """Per-activity choice: named activities go to ``overrides``, the rest to ``default``."""

    def __init__(self, default: ActivityRunner, overrides: dict[str, ActivityRunner]) -> None:
        self._default = default
        self._overrides = overrides

    async def run(self, item: WorkItem) -> ActivityOutcome:
        """Dispatch by activity name."""
        return await self._overrides.get(item.name, self._default).run(item)

    def close(self) -> None:
        """Close every distinct runner once."""
        seen: set[int] = set()
        for runner in [self._default, *self._overrides.values()]:
            if id(runner) not in seen:
                seen.add(id(runner))
                runner.close()
