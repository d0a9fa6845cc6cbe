"""What the CLI's starter commands share: reading an answer, following a run on ``/api/runs``.

A starter answers 202 with ``status_url``, the app's own ``GET /api/runs/{id}`` (read role);
the commands poll it with their key. Durable's management URLs are never handed out by the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from devhost.cli.metadata import answer

__all__ = ["FINISHED", "answer", "follow_run"]

# Durable's runtime statuses after which a run changes no more.
FINISHED = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


def follow_run(
    http: httpx.Client,
    status_url: str,
    *,
    timeout_s: float,
    on_status: Callable[[dict[str, Any]], None] | None = None,
    interval_s: float = 1.0,
) -> dict[str, Any]:
    """Poll ``status_url`` until the run finished (or ``timeout_s`` ran out); its last status."""
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = answer(http.get(status_url))
        if on_status is not None:
            on_status(status)
        if status["runtime_status"] in FINISHED or time.monotonic() > deadline:
            return status
        time.sleep(interval_s)
