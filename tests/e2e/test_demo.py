"""``make demo`` (``avops demo``): the main job end to end, and nothing left running after it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.azurite


def test_demo_ingests_the_sample_drive_and_stops_what_it_started(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = subprocess.run(
        [sys.executable, "-m", "avops.cli", "demo", "--workdir", str(workdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    out = result.stdout
    assert "ingest: completed" in out
    assert "(COMPLETED), 10 files" in out
    assert "landing now holds 0 blobs" in out
    # Every planted event is reported next to the scene found for it.
    assert "not found" not in out
    assert "scenes found: {'pedestrian_in_view': 2, 'hard_brake': 1, 'stop': 1," in out
    for name in ("ros2_drive/ros2_drive.mcap", "ros1_drive.bag", "vehicle.mf4", "daq.tdms"):
        assert name in out
    # Azurite and the activity workers are gone: no process of ours outlives the demo.
    leftovers = [
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if str(workdir) in " ".join(p.info["cmdline"] or []) and p.pid not in before
    ]
    assert leftovers == []
