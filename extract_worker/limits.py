"""Memory and wall-clock limits for the parsing process, and glibc tuning for big messages.

Memory: ``RLIMIT_AS`` makes an absurd allocation (a record claiming 4 GB) fail with
MemoryError inside the parser instead of getting the node's OOM killer; the CLI maps it to
exit 2. Time: ``SIGALRM`` raises TaskTimeoutError (exit 3, retryable).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import resource
import signal
import sys
from typing import TYPE_CHECKING

from extract_worker.errors import TaskTimeoutError

if TYPE_CHECKING:
    from types import FrameType

__all__ = ["apply_limits", "arm_time_limit", "release_free_memory", "tune_malloc"]

# mallopt parameter numbers from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def apply_limits(*, memory_mb: int, time_s: int) -> None:
    """Cap the address space at ``memory_mb`` and raise TaskTimeoutError after ``time_s``."""
    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    arm_time_limit(time_s)


def arm_time_limit(time_s: int) -> None:
    """Raise TaskTimeoutError ``time_s`` from now (replacing a limit armed before).

    A run of several kinds arms it again before each kind: the limit is per kind, as it was
    when every kind was a task of its own; the task's wall clock (``max_wall_clock_s``) bounds
    the whole run.
    """

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TaskTimeoutError(f"task ran longer than its limit of {time_s} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(time_s)


def release_free_memory() -> None:
    """Collect garbage and hand free memory back to the OS (Arrow's pool, glibc ``malloc_trim``).

    :func:`tune_malloc` keeps freed buffers in the heap for the next message; between two
    kinds of one run that memory is only held, so the next kind starts from a small heap.
    """
    gc.collect()
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        # Arrow's own pool (mimalloc or jemalloc) keeps freed buffers too.
        pyarrow.default_memory_pool().release_unused()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)


def tune_malloc() -> bool:
    """Keep freed multi-MB message buffers in the heap instead of returning them to the OS.

    With glibc defaults each multi-MB message is mmap'd and unmapped again, so every message
    re-faults fresh pages and readers get 3-6x slower. Raising the mmap and trim thresholds
    (what ``MALLOC_TOP_PAD_`` does from the environment) reuses them. False off glibc.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, 64 << 20) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, 256 << 20) == 1 and ok
    return bool(mallopt(_M_TOP_PAD, 64 << 20) == 1) and ok
