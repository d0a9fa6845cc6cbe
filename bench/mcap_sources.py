"""Benchmark MCAP sources as a vehicle logger writes them, at any size.

A 1 kHz IMU, 10 Hz GPS, 20 Hz 100 kB camera frames and 10 Hz 500 kB point clouds (about
7 MB per second of recording), zstd chunks of 1 MB. Payloads are cut at random offsets from
64 MB of random bytes, so zstd cannot shrink the file below the size asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mcap.writer import CompressionType, IndexType, Writer

T0 = 1_700_000_000_000_000_000
POOL_BYTES = 64 << 20
# topic -> (period in ms, payload bytes)
STREAMS = {"/imu": (1, 96), "/gps": (100, 120), "/camera": (50, 100_000), "/lidar": (100, 500_000)}


def _bytes_per_second() -> int:
    return sum(size * 1000 // period for period, size in STREAMS.values())


def write_source(
    path: Path, size_bytes: int, index_types: IndexType = IndexType.ALL, *, statistics: bool = True
) -> tuple[int, int]:
    """An MCAP of about ``size_bytes`` (written to a side file, then renamed); its first and
    last log time."""
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, POOL_BYTES, dtype=np.uint8).tobytes()
    offsets = rng.integers(0, POOL_BYTES - 500_000, 1 << 16).tolist()
    seconds = max(1, size_bytes // _bytes_per_second())
    partial = path.with_suffix(".partial")
    with partial.open("wb") as sink:
        writer = Writer(
            sink,
            compression=CompressionType.ZSTD,
            index_types=index_types,
            use_statistics=statistics,
        )
        writer.start(profile="", library="avops-bench")
        schema = writer.register_schema("Blob", "jsonschema", b'{"type":"object"}')
        channels = {topic: writer.register_channel(topic, "json", schema) for topic in STREAMS}
        n = 0
        for ms in range(seconds * 1000):
            stamp = T0 + ms * 1_000_000
            for topic, (period, size) in STREAMS.items():
                if ms % period == 0:
                    start = offsets[n & 0xFFFF]
                    n += 1
                    writer.add_message(channels[topic], stamp, pool[start : start + size], stamp)
        writer.finish()  # type: ignore[no-untyped-call]
    partial.rename(path)
    return T0, T0 + (seconds * 1000 - 1) * 1_000_000
