"""Running this interpreter in a child process, as tests that need a fresh process do."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["run_python"]


def run_python(
    *args: str,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python <args>`` with this interpreter, stdout and stderr captured as text.

    The exit code is not checked here: the caller asserts it and shows the output it needs.
    """
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
