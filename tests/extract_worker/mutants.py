"""Seeded mutants of small recordings, and one worker run per mutant with its contract checked.

A mutant is the fixture recording of one format with one damage applied: a truncation, 1, 10
or 100 flipped bits, a 0xFFFFFFFF written over a 4-byte field, or a zero-filled range. Half
of the damage is aimed inside the format's "hot" regions (compressed MCAP and ROS 1 chunks,
MDF 4 DZ blocks, TDMS segments, ROS 2 sqlite pages) so that decompressors and block parsers
see it, not only the headers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mcap.reader import SeekingReader
from mcap.summary import Summary

from extract_worker.commit import STAGING_DIR, SUCCESS_NAME

__all__ = [
    "FORMATS",
    "KINDS",
    "Mutant",
    "WorkerResult",
    "base_recording",
    "contract_violations",
    "data_file",
    "flip_mcap_chunk_byte",
    "hot_regions",
    "make_mutants",
    "mcap_summary",
    "run_worker",
]

# Format -> the tasks a mutant of it is run with (chosen per mutant by the seeded generator).
FORMATS: dict[str, tuple[str, ...]] = {
    "ros1": ("validate", "structured", "camera"),
    "ros2-sqlite3": ("validate", "structured", "metadata"),
    "mcap": ("validate", "structured", "camera"),
    # Chunk index only: counts come from reading the chunks (the metadata read counts them).
    "mcap-chunk-index": ("validate", "metadata", "structured"),
    "mdf4": ("validate", "structured", "can"),
    "tdms": ("validate", "structured", "metadata"),
}
KINDS = ("truncate", "flip1", "flip10", "flip100", "ffff", "zeros")


@dataclass(frozen=True)
class Mutant:
    """One damaged copy of a recording: what was done and where."""

    fmt: str
    index: int
    kind: str
    offset: int
    task: str
    path: Path

    @property
    def label(self) -> str:
        """A short name for failure messages: ``mcap#3 flip10@1234 (structured)``."""
        return f"{self.fmt}#{self.index} {self.kind}@{self.offset} ({self.task})"


@dataclass(frozen=True)
class WorkerResult:
    """What one worker process did: exit code, stderr, peak RSS and wall time."""

    mutant: Mutant
    returncode: int | None
    stderr: str
    peak_rss_mb: float
    seconds: float
    cpu_seconds: float
    output: Path


def base_recording(fmt: str, directory: Path) -> Path:
    """Write the unmutated recording of ``fmt`` into ``directory``."""
    from tests.extract_worker.recordings import write_mcap, write_ros1, write_ros2
    from tests.extract_worker.tables import write_mdf, write_tdms

    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "ros1":
        return write_ros1(directory / "drive.bag", compression="lz4")
    if fmt == "ros2-sqlite3":
        return write_ros2(directory / "drive_db3")
    if fmt == "mcap":
        return write_mcap(directory / "drive.mcap", chunk_size=16 << 10)
    if fmt == "mcap-chunk-index":
        return write_mcap(directory / "drive.mcap", chunk_size=16 << 10, counted=False)
    if fmt == "mdf4":
        from asammdf import MDF

        plain = write_mdf(directory / "plain.mf4")
        compressed = directory / "drive.mf4"
        # Transposed deflate (DZ blocks): the damage reaches zlib/isal, not only block headers.
        with MDF(plain) as mdf:
            mdf.save(compressed, overwrite=True, compression=2)
        plain.unlink()
        return compressed
    if fmt == "tdms":
        return write_tdms(directory / "rig.tdms")
    raise ValueError(fmt)


def data_file(recording: Path) -> Path:
    """The file to damage: the recording itself, or a ROS 2 bag's storage file."""
    if recording.is_dir():
        (storage,) = [p for p in recording.iterdir() if p.suffix in {".db3", ".mcap"}]
        return storage
    return recording


def hot_regions(fmt: str, data: bytes) -> list[tuple[int, int]]:
    """Byte ranges holding compressed chunks, data blocks or segments of ``data``."""
    if fmt.startswith("mcap"):
        return _mcap_chunks(data)
    if fmt == "ros1":
        return _ros1_chunks(data)
    if fmt == "mdf4":
        return _blocks(data, b"##DZ")
    if fmt == "tdms":
        return _marked(data, b"TDSm")
    # sqlite: skip the 100-byte database header; pages hold the serialized messages.
    return [(100, len(data))]


def _mcap_chunks(data: bytes) -> list[tuple[int, int]]:
    import io

    from mcap.reader import SeekingReader

    summary = SeekingReader(io.BytesIO(data)).get_summary()
    if summary is None:
        return []
    return [
        (c.chunk_start_offset, c.chunk_start_offset + c.chunk_length) for c in summary.chunk_indexes
    ]


def _ros1_chunks(data: bytes) -> list[tuple[int, int]]:
    """Chunk records (op=5) of a ROS 1 bag: header length, header, data length, data."""
    regions = []
    pos = len(b"#ROSBAG V2.0\n")
    while pos + 4 <= len(data):
        (header_len,) = struct.unpack_from("<I", data, pos)
        data_len_pos = pos + 4 + header_len
        if data_len_pos + 4 > len(data):
            break
        (data_len,) = struct.unpack_from("<I", data, data_len_pos)
        end = data_len_pos + 4 + data_len
        if b"op=\x05" in data[pos + 4 : data_len_pos]:
            regions.append((pos, end))
        pos = end
    return regions


def _blocks(data: bytes, marker: bytes) -> list[tuple[int, int]]:
    """MDF 4 blocks with ``marker``: id, reserved, u64 length at +8."""
    regions = []
    pos = data.find(marker)
    while pos >= 0:
        (length,) = struct.unpack_from("<Q", data, pos + 8)
        regions.append((pos, min(len(data), pos + max(length, 24))))
        pos = data.find(marker, pos + 1)
    return regions


def _marked(data: bytes, marker: bytes) -> list[tuple[int, int]]:
    starts = []
    pos = data.find(marker)
    while pos >= 0:
        starts.append(pos)
        pos = data.find(marker, pos + 1)
    return [(a, b) for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


def _mutate(data: bytearray, kind: str, offset: int, rng: random.Random, span: int) -> bytearray:
    if kind == "truncate":
        return data[:offset]
    if kind.startswith("flip"):
        for _ in range(int(kind[4:])):
            pos = min(len(data) - 1, offset + rng.randrange(span))
            data[pos] ^= 1 << rng.randrange(8)
        return data
    if kind == "ffff":
        data[offset : offset + 4] = b"\xff\xff\xff\xff"
        return data
    size = min(rng.choice((4, 16, 64, 512)), span)
    data[offset : offset + size] = bytes(size)
    return data


def mcap_summary(path: Path) -> Summary:
    """The summary section of the MCAP file at ``path`` (which must have one)."""
    with path.open("rb") as f:
        summary = SeekingReader(f).get_summary()
    assert summary is not None
    return summary


def flip_mcap_chunk_byte(path: Path, from_chunk_end: int) -> int:
    """Flip the byte ``from_chunk_end`` bytes before the end of the first chunk, so that its
    CRC no longer matches; returns the chunk's start offset (the error must name it)."""
    chunk = mcap_summary(path).chunk_indexes[0]
    data = bytearray(path.read_bytes())
    data[chunk.chunk_start_offset + chunk.chunk_length - from_chunk_end] ^= 0xFF
    path.write_bytes(bytes(data))
    return chunk.chunk_start_offset


def make_mutants(fmt: str, base: Path, directory: Path, count: int, seed: int) -> list[Mutant]:
    """``count`` mutants of ``base`` under ``directory``, the same for the same seed."""
    import shutil

    rng = random.Random(f"{seed}:{fmt}")
    original = data_file(base).read_bytes()
    hot = hot_regions(fmt, original) or [(0, len(original))]
    mutants = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)] if index < len(KINDS) else rng.choice(KINDS)
        while True:  # a zero fill over zeros changes nothing: draw again
            start, end = rng.choice(hot) if index % 2 == 0 else (0, len(original))
            # Keep the magic intact: a mutant of an unrecognised format tests nothing new.
            start = max(start, 16)
            end = max(end, start + 1)
            offset = rng.randrange(start, min(end, len(original)))
            if kind == "ffff":
                offset -= offset % 4
            data = _mutate(bytearray(original), kind, offset, rng, max(1, end - offset))
            if data != original:
                break
        home = directory / f"{fmt}-{index:04d}"
        home.mkdir(parents=True)
        target = home / base.name
        if base.is_dir():
            shutil.copytree(base, target)
            data_file(target).write_bytes(bytes(data))
        else:
            target.write_bytes(bytes(data))
        task = rng.choice(FORMATS[fmt])
        mutants.append(Mutant(fmt, index, kind, offset, task, target))
    return mutants


# Wall-clock limit of one run: a hang guard only. The 30 s budget is checked on CPU time,
# because on a shared 2-core box (load 15) wall time measures the neighbours, not the worker.
HANG_GUARD_S = 180.0

# Runs the worker as its only child and writes that child's exit code, peak RSS and CPU time.
_LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({
        "returncode": os.waitstatus_to_exitcode(status),
        "maxrss_kb": usage.ru_maxrss,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }, out)
"""
CPU_BUDGET_S = 30.0


def run_worker(mutant: Mutant, *, timeout_s: float = HANG_GUARD_S) -> WorkerResult:
    """Run the worker on ``mutant`` as Batch does; measure this one child's RSS and CPU time."""
    output = mutant.path.parent / "out"
    stderr_path = mutant.path.parent / "stderr.txt"
    argv = [
        sys.executable, "-m", "extract_worker", "run", "--task", mutant.task,
        "--input", str(mutant.path), "--output", str(output),
        "--measurement-id", f"fuzz-{mutant.fmt}-{mutant.index}",
    ]  # fmt: skip
    usage_path = mutant.path.parent / "usage.json"
    usage_path.unlink(missing_ok=True)
    start = time.perf_counter()
    with stderr_path.open("wb") as err:
        # Through a small launcher: a child's ru_maxrss starts at its parent's peak (Linux keeps
        # the pre-exec high-water mark), and this test process may be a large pytest worker.
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(usage_path), *argv],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=max(0.0, start + timeout_s - time.perf_counter()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    usage = json.loads(usage_path.read_text()) if usage_path.is_file() else None
    returncode = None if usage is None else int(usage["returncode"])
    return WorkerResult(
        mutant=mutant,
        returncode=returncode,
        stderr=stderr_path.read_text(errors="replace"),
        peak_rss_mb=0.0 if usage is None else float(usage["maxrss_kb"]) / 1024,
        seconds=time.perf_counter() - start,
        cpu_seconds=timeout_s if usage is None else float(usage["cpu_seconds"]),
        output=output,
    )


def contract_violations(result: WorkerResult) -> list[str]:
    """Every way ``result`` breaks the worker's contract (empty when it keeps it)."""
    problems = []
    if result.returncode is None:
        problems.append(f"still running after {result.seconds:.0f} s (killed)")
    elif result.returncode not in (0, 2):
        problems.append(f"exit code {result.returncode}")
    if result.cpu_seconds >= CPU_BUDGET_S:
        problems.append(f"used {result.cpu_seconds:.1f} s of CPU")
    if result.peak_rss_mb >= 512:
        problems.append(f"peak RSS {result.peak_rss_mb:.0f} MB")
    for line in result.stderr.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            problems.append(f"non-JSON stderr line {line[:200]!r}")
            break
        if not isinstance(parsed, dict):
            problems.append(f"stderr line is not a JSON object: {line[:200]!r}")
            break
    if result.returncode == 2:
        errors = [json.loads(x) for x in result.stderr.splitlines() if '"level": "error"' in x]
        if not any(str(result.mutant.path) in str(e.get("message", "")) for e in errors):
            problems.append("exit 2 without a JSON error naming the file")
        if result.output.exists():
            left = [p for p in result.output.rglob("*") if p.name == SUCCESS_NAME]
            staging = result.output / STAGING_DIR
            if staging.exists():
                left += list(staging.iterdir())
            if left:
                problems.append(f"left behind {sorted(str(p) for p in left)}")
    return problems
