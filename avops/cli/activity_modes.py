"""Where devhost runs this project's activities: ``--activities auto|process|thread``.

``auto`` (the default of ``avops dev`` and ``avops demo``) runs the activities that wait on
storage, the store or the batch service in threads of the host, as the Functions host runs
every activity, and the CPU-bound ones (``ActivityContract.cpu_bound``) in worker processes,
so they do not serialize behind the GIL.
"""

from __future__ import annotations

from collections.abc import Iterable

import typer

from dataops.activity_contracts import io_bound_activities

ACTIVITY_MODES = ("auto", "process", "thread")


def activity_placement(mode: str, thread_activities: Iterable[str] = ()) -> tuple[str, set[str]]:
    """devhost's ``activity_mode`` and ``thread_activities`` for ``--activities mode``."""
    extra = set(thread_activities)
    if mode == "auto":
        return "process", set(io_bound_activities()) | extra
    if mode in ACTIVITY_MODES:
        return mode, extra
    raise typer.BadParameter(
        f"expected one of {', '.join(ACTIVITY_MODES)}, got {mode!r}", param_hint="--activities"
    )
