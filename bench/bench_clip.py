"""Scene clip benchmark: ``write_clip`` against a plain mcap read-and-write of the same window.

Sources: MCAP files of 200 MB and 800 MB (100 Hz of 10 kB "images" plus 1 kHz small messages,
zstd chunks, as loggers write them); the window is 20 s in the middle. Reference, measured in
the same run on the same file: the mcap library's indexed read of the window into a plain
``Writer`` (bench/clip_probe.py). Reported: messages per second of both (goal: clip >= 0.7x the
reference) and each one's peak RSS per source size (goal: flat in the file size). Each
measurement runs in a fresh process.

Run with ``make bench``; results go to bench/results/clip.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcap.writer import CompressionType, Writer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SIZES_MB = (200, 800)
IMAGE_BYTES = 10_000
T0 = 1_700_000_000_000_000_000
WINDOW_NS = 20_000_000_000


def _source(path: Path, size_mb: int) -> tuple[int, int]:
    """Write the source; its (first, last) log time."""
    seconds = size_mb * (1 << 20) // (100 * IMAGE_BYTES)
    image = os.urandom(IMAGE_BYTES)
    with path.open("wb") as sink:
        writer = Writer(sink, compression=CompressionType.ZSTD)
        writer.start()
        schema = writer.register_schema("Blob", "jsonschema", b'{"type":"object"}')
        camera = writer.register_channel("/camera", "json", schema)
        imu = writer.register_channel("/imu", "json", schema)
        for ms in range(seconds * 1000):
            stamp = T0 + ms * 1_000_000
            writer.add_message(imu, stamp, b'{"ax":0.1,"ay":0.2}', stamp)
            if ms % 10 == 0:
                writer.add_message(camera, stamp, image, stamp)
        writer.finish()
    return T0, T0 + seconds * 1_000_000_000


def _probe(mode: str, source: Path, start: int, end: int, out: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.clip_probe",
            mode,
            str(source),
            str(start),
            str(end),
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.bench
@pytest.mark.timeout(3600)
def test_clip_rate_and_memory_against_plain_mcap_copy(tmp_path: Path) -> None:
    rows = []
    for size_mb in SIZES_MB:
        source = tmp_path / f"source-{size_mb}.mcap"
        first, last = _source(source, size_mb)
        middle = (first + last) // 2
        start, end = middle - WINDOW_NS // 2, middle + WINDOW_NS // 2
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
