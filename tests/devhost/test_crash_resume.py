"""Kill the host with os._exit in the middle of a fan-out; a restart finishes the run."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.devhost.conftest import read_records

ROOT = Path(__file__).resolve().parents[2]


def _run(db: Path, out: Path, mode: str, n: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.devhost.crash_host", str(db), str(out), mode, str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_crash_mid_fan_out_then_resume(tmp_path: Path) -> None:
    db = tmp_path / "host.sqlite"
    out = tmp_path / "out.jsonl"
    n = 12
    crashed = _run(db, out, "crash", n)
    assert crashed.returncode == 17, crashed.stderr[-2000:]

    conn = sqlite3.connect(db)
    in_flight = {
        json.loads(row[0])["i"]
        for row in conn.execute("SELECT input FROM work WHERE state='running'")
    }
    conn.close()
    assert in_flight, "the crash should leave activities in flight"
    starts_before = Counter(r["i"] for r in read_records(out, "start"))
    # In the middle of the fan-out: some activities had not started. The worker claims work
    # ahead of its slots, so some of those are 'running' in the store without having started;
    # they must run once after the restart, like the pending ones.
    assert len(starts_before) < n, "the crash should happen in the middle of the fan-out"

    resumed = _run(db, out, "resume", n)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1]) == list(range(n))

    starts = Counter(r["i"] for r in read_records(out, "start"))
    ran_twice = {i for i, count in starts.items() if count > 1}
    assert set(starts) == set(range(n))
    assert max(starts.values()) <= 2
    # Only activities that were in flight at the crash ran again; completed ones did not.
    assert ran_twice <= in_flight
    assert ran_twice == {i for i in in_flight if starts_before[i] > 0}
