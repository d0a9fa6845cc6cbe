"""Sort a stream of ``(time, channel, bytes)`` by time with bounded memory.

Runs of up to ``budget`` bytes are sorted in memory and spilled to temporary files; the runs
are then merged with a heap holding one message per run. Ties keep their input order, so a
file whose log times are already ordered comes out unchanged.
"""

from __future__ import annotations

import heapq
import struct
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["sorted_by_time"]

_HEAD = struct.Struct("<QQiI")  # time, input sequence, channel, data length
_DEFAULT_BUDGET = 64 << 20


def sorted_by_time(
    items: Iterable[tuple[int, int, bytes]], *, budget: int = _DEFAULT_BUDGET
) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``items`` ordered by time (stable); memory stays near ``budget`` bytes."""
    with tempfile.TemporaryDirectory(prefix="extract-sort-") as tmp:
        run: list[tuple[int, int, int, bytes]] = []
        run_bytes = 0
        runs: list[Path] = []
        for seq, (time_ns, channel, data) in enumerate(items):
            run.append((time_ns, seq, channel, data))
            run_bytes += len(data) + _HEAD.size
            if run_bytes >= budget:
                runs.append(_spill(run, Path(tmp) / f"run-{len(runs):05d}"))
                run, run_bytes = [], 0
        run.sort(key=lambda m: (m[0], m[1]))
        if not runs:
            for time_ns, _, channel, data in run:
                yield time_ns, channel, data
            return
        handles = [path.open("rb") for path in runs]
        try:
            sources = [_read_run(f) for f in handles]
            sources.append(iter(run))
            for time_ns, _, channel, data in heapq.merge(*sources, key=lambda m: (m[0], m[1])):
                yield time_ns, channel, data
        finally:
            for f in handles:
                f.close()


def _spill(run: list[tuple[int, int, int, bytes]], path: Path) -> Path:
    run.sort(key=lambda m: (m[0], m[1]))
    with path.open("wb") as f:
        for time_ns, seq, channel, data in run:
            f.write(_HEAD.pack(time_ns, seq, channel, len(data)))
            f.write(data)
    return path


def _read_run(f: IO[bytes]) -> Iterator[tuple[int, int, int, bytes]]:
    while head := f.read(_HEAD.size):
        time_ns, seq, channel, length = _HEAD.unpack(head)
        yield time_ns, seq, channel, f.read(length)
