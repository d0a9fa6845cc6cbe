"""Records what a batch task's Python process cost (used by bench/fleet_stack.py).

The pool's tasks get a ``sitecustomize`` that calls :func:`install`: a counter on the storage
SDK's transport from the start, and at exit CPU seconds (user + system, children included),
peak RSS, storage requests and bytes in ``$AVOPS_PROBE_DIR/<job>-<task>-<pid>.json``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Requests:
    """Storage requests seen by this process: (time, method, bytes sent, bytes received)."""

    calls: list[tuple[float, str, int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self, start: float = 0.0, end: float = float("inf")) -> dict[str, int]:
        """Requests by kind (reads: GET/HEAD; writes: the rest) and bytes, in a time window."""
        with self.lock:
            picked = [c for c in self.calls if start <= c[0] <= end]
        return {
            "requests": len(picked),
            "read_requests": sum(1 for c in picked if c[1] in ("GET", "HEAD")),
            "write_requests": sum(1 for c in picked if c[1] not in ("GET", "HEAD")),
            "bytes_sent": sum(c[2] for c in picked),
            "bytes_received": sum(c[3] for c in picked),
        }


@contextlib.contextmanager
def count_requests() -> Iterator[Requests]:
    """Count every request the azure-core requests transport sends (sync storage clients)."""
    from azure.core.pipeline.transport import RequestsTransport

    seen = Requests()
    original = RequestsTransport.send

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        response = original(self, request, **kwargs)
        sent = int(request.headers.get("Content-Length") or 0)
        # A HEAD answer carries the blob's Content-Length but no body.
        received = (
            0 if request.method == "HEAD" else int(response.headers.get("Content-Length") or 0)
        )
        with seen.lock:
            seen.calls.append((time.time(), str(request.method), sent, received))
        return response

    RequestsTransport.send = send
    try:
        yield seen
    finally:
        RequestsTransport.send = original


_ACTIVE: list[Any] = []


def install() -> None:
    """Start counting now and write the record at exit (from a ``sitecustomize``)."""
    started = time.time()
    counter = count_requests()
    seen = counter.__enter__()
    # Kept alive for the whole process: a collected context manager would restore the transport.
    _ACTIVE.append(counter)

    def write() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        record = {
            "job_id": os.environ.get("AZ_BATCH_JOB_ID"),
            "task_id": os.environ.get("AZ_BATCH_TASK_ID"),
            "args": sys.argv[1:],
            "start": started,
            "end": time.time(),
            "cpu_s": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
            "peak_rss_mb": max(usage.ru_maxrss, children.ru_maxrss) / 1024,
            **seen.summary(),
        }
        out = Path(os.environ["AVOPS_PROBE_DIR"])
        name = f"{record['job_id']}-{record['task_id']}-{os.getpid()}.json"
        (out / name).write_text(json.dumps(record))

    atexit.register(write)


def probe_site(workdir: Path) -> Path:
    """A directory with a sitecustomize that calls :func:`install`: put it first on a task
    process's ``PYTHONPATH`` (with the repository after it) to measure that process."""
    site = workdir / "probe-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "import bench.task_probe\n\nbench.task_probe.install()\n"
    )
    return site
