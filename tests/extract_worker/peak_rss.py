"""Peak RSS of a command, measured by a fresh wrapper process so no other child counts."""

from __future__ import annotations

import json
import subprocess
import sys

_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({
    "returncode": proc.returncode,
    "seconds": time.perf_counter() - start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "stderr": proc.stderr[-4000:],
}))
"""


def run_measured(argv: list[str]) -> dict[str, object]:
    """Run ``argv``; return its exit code, wall time, peak RSS (MB) and stderr tail."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv], capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def worker_argv(kind: str, src: str, out: str, *extra: str) -> list[str]:
    """The worker's command line, as Batch runs it."""
    return [
        sys.executable, "-m", "extract_worker", "run", "--task", kind,
        "--input", src, "--output", out, *extra,
    ]  # fmt: skip
