"""MCAP ``metadata`` without message indexes against a plain mcap-library scan of the same file.

Source: an MCAP of ``AVOPS_BENCH_MCAP_GB`` GB (default 4, bench/mcap_sources.py) with message
indexes and statistics turned off: zstd chunks and a chunk index, so the summary lists the
channels and each chunk's time range but no per-channel count. A 1 kHz IMU, 10 Hz GPS, 20 Hz
100 kB camera frames and 10 Hz 500 kB point clouds, payloads cut from random bytes (zstd
cannot shrink them). Written once and kept in ``$TMPDIR/avops-bench-mcap``; skipped when that
disk has less than 10 GB free.

Reference, same run, same file, fresh process each: ``make_reader(f).iter_messages()`` counting
messages and first/last log time per channel (bench/mcap_metadata_probe.py). Reported: both
times after a warm-up of each (page cache), the ratio (goal: ours <= 1.2x the reference) and
our peak RSS. Results go to bench/results/mcap_metadata.json.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from mcap.writer import IndexType

from bench._common import run_probe
from bench.mcap_sources import write_source

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(tempfile.gettempdir()) / "avops-bench-mcap"
MIN_FREE = 10 << 30


@pytest.fixture(scope="module")
def unindexed_mcap() -> Path:
    size_gb = float(os.environ.get("AVOPS_BENCH_MCAP_GB", "4"))
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"no-message-index-{size_gb:g}gb.mcap"
    if not path.exists():
        free = shutil.disk_usage(CACHE).free
        if free < MIN_FREE:
            pytest.skip(f"{CACHE} has {free / (1 << 30):.1f} GB free, the bench needs 10 GB")
        write_source(path, int(size_gb * (1 << 30)), IndexType.CHUNK, statistics=False)
    return path


def _probe(mode: str, source: Path, out: Path) -> dict[str, Any]:
    return run_probe("bench.mcap_metadata_probe", mode, str(source), str(out), timeout_s=3600)


@pytest.mark.bench
@pytest.mark.timeout(7200)
def test_metadata_without_message_index_against_plain_scan(
    unindexed_mcap: Path, tmp_path: Path
) -> None:
    rounds = []
    for _ in range(2):  # the first round warms the page cache; the second is reported
        plain = _probe("plain", unindexed_mcap, tmp_path / "out")
        ours = _probe("ours", unindexed_mcap, tmp_path / "out")
        assert ours["messages"] == plain["messages"] > 0
        rounds.append(
            {
                "source_gb": round(unindexed_mcap.stat().st_size / (1 << 30), 2),
                "messages": ours["messages"],
                "plain_s": round(plain["seconds"], 2),
                "ours_s": round(ours["seconds"], 2),
                "ratio": round(ours["seconds"] / plain["seconds"], 3),
                "plain_peak_mb": round(plain["peak_mb"], 1),
                "ours_peak_mb": round(ours["peak_mb"], 1),
            }
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mcap_metadata.json").write_text(json.dumps(rounds, indent=2) + "\n")
    for row in rounds:
        print(row)
    assert rounds[-1]["ratio"] <= 1.2
