"""What the benchmarks share: where results go, probes in child processes, a devhost of
the project's own app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from devhost.host import HostOptions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SUBSCRIPTIONS = ROOT / "infra" / "eventgrid-subscriptions.json"


def write_results(name: str, data: Any) -> Path:
    """``bench/results/<name>.json``, indented, for the docs' numbers to come from."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def run_probe(
    module: str, *args: str, env: dict[str, str] | None = None, timeout_s: float = 1800
) -> dict[str, Any]:
    """Run ``python -m <module> <args>`` from the repository root in a fresh process (its peak
    RSS is its own) and return the JSON object on the last line it prints."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} failed:\n{completed.stderr[-4000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def project_host_options(
    state_dir: Path, storage_connection_string: str, poll_interval_s: float, **extra: Any
) -> HostOptions:
    """A devhost of the project's own app on a free port, fed by its Event Grid subscriptions."""
    return HostOptions(
        app_root=ROOT,
        state_dir=state_dir,
        port=0,
        subscriptions_path=SUBSCRIPTIONS,
        storage_connection_string=storage_connection_string,
        poll_interval_s=poll_interval_s,
        **extra,
    )
