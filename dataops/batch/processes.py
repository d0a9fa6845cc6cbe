"""Process identity and process-group signals for the local pool.

A pid alone is not an identity: after a crash the pid of a task may belong to another
program. Linux's ``/proc/<pid>/stat`` start time (clock ticks since boot) makes (pid, start)
unique for the life of the machine, so the pool only ever signals the process it started.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

__all__ = ["alive", "kill_group", "process_start"]

_PROC = Path("/proc")


def process_start(pid: int) -> str | None:
    """The start time of a live ``pid`` as recorded by the kernel; None if it is gone.

    A zombie counts as gone: it runs nothing, and in containers without an init process
    nobody may ever reap it. Without /proc (not Linux) the pid alone is checked and "0" is
    returned for a live process, which the callers compare like any other value.
    """
    stat = _PROC / str(pid) / "stat"
    if not _PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "0"
        return "0"
    try:
        text = stat.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ")": split after
    # the last ")"; then the state is field 3 and the start time field 22.
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def alive(pid: int | None, start: str | None) -> bool:
    """True if ``pid`` still runs the very process that had ``start`` as its start time."""
    if pid is None or start is None:
        return False
    return process_start(pid) == start


def kill_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> bool:
    """Signal a process group; False if it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True
