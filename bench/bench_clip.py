"""Scene clip benchmark: ``write_clip`` against a plain mcap read-and-write of the same window.

Sources: MCAP files of 0.5 GB and 2 GB (``AVOPS_BENCH_CLIP_MB``, comma-separated sizes in MB;
the logger mix of bench/mcap_sources.py: 1 kHz IMU, 100 kB camera frames, 500 kB point
clouds, zstd chunks, incompressible payloads); the window is 20 s in the middle. Reference,
measured in the same run on the same file: the mcap library's indexed read of the window into
a plain ``Writer``, copying schemas and channels as met (bench/clip_probe.py). Reported:
messages per second of both (goal: clip >= 0.7x the reference) and each one's peak RSS per
source size (goal: flat in the file size). Each measurement runs in a fresh process, two
rounds per size (the first warms the page cache); the second is reported.

Run with ``make bench``; results go to bench/results/clip.json.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench._common import run_probe
from bench.mcap_sources import write_source

RESULTS = Path(__file__).resolve().parent / "results"
WINDOW_NS = 20_000_000_000


def _sizes_mb() -> list[int]:
    return [int(size) for size in os.environ.get("AVOPS_BENCH_CLIP_MB", "512,2048").split(",")]


def _probe(mode: str, source: Path, start: int, end: int, out: Path) -> dict[str, Any]:
    return run_probe("bench.clip_probe", mode, str(source), str(start), str(end), str(out))


@pytest.mark.bench
@pytest.mark.timeout(3600)
def test_clip_rate_and_memory_against_plain_mcap_copy(tmp_path: Path) -> None:
    rows = []
    for size_mb in _sizes_mb():
        source = tmp_path / f"source-{size_mb}.mcap"
        first, last = write_source(source, size_mb << 20)
        middle = (first + last) // 2
        start, end = middle - WINDOW_NS // 2, middle + WINDOW_NS // 2
        for _ in range(2):
            plain = _probe("plain", source, start, end, tmp_path / "plain.mcap")
            clip = _probe("clip", source, start, end, tmp_path / "clip.mcap")
        assert clip["messages"] == plain["messages"] > 0
        rows.append(
            {
                "source_mb": round(source.stat().st_size / (1 << 20)),
                "messages": clip["messages"],
                "plain_msgs_per_s": round(plain["messages"] / plain["seconds"]),
                "clip_msgs_per_s": round(clip["messages"] / clip["seconds"]),
                "ratio": round(plain["seconds"] / clip["seconds"], 3),
                "plain_peak_mb": round(plain["peak_mb"], 1),
                "clip_peak_mb": round(clip["peak_mb"], 1),
            }
        )
        source.unlink()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "clip.json").write_text(json.dumps(rows, indent=2) + "\n")
    for row in rows:
        print(row)
    assert all(row["ratio"] >= 0.7 for row in rows)
    # Flat: the largest source's peak within 10% (and 16 MB of noise) of the smallest's.
    peaks = [row["clip_peak_mb"] for row in rows]
    assert max(peaks) <= min(peaks) * 1.1 + 16
