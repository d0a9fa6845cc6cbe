"""Test app with a host.json: I/O-bound activities that report how many ran at once."""

from __future__ import annotations

import threading
import time
from typing import Any

import azure.durable_functions as df

app = df.DFApp()

_lock = threading.Lock()
_running = 0


@app.activity_trigger(input_name="seconds")
def wait_io(seconds: float) -> int:
    """Sleep like a network call; return how many activities (this one too) ran at its start."""
    global _running  # noqa: PLW0603 - the point is a count shared by the activity threads
    with _lock:
        _running += 1
        at_start = _running
    try:
        time.sleep(seconds)
        with _lock:
            return max(at_start, _running)
    finally:
        with _lock:
            _running -= 1


@app.orchestration_trigger(context_name="context")
def io_fan_out(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Fan out ``n`` waits of ``seconds``; return the most that ran at once."""
    params: dict[str, Any] = context.get_input()
    tasks = [context.call_activity("wait_io", params["seconds"]) for _ in range(params["n"])]
    seen = yield context.task_all(tasks)
    return max(seen)
