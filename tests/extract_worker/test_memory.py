"""Bounded memory: the worker's peak RSS on a 200 MB input, in a subprocess.

asammdf's own ``export('parquet')`` holds the whole group (over 1 GB for this input); the
worker streams fragments. TDMS streams ``data_chunks``. Bigger inputs are @slow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq
import pytest
from asammdf import MDF, Signal

from tests.extract_worker.peak_rss import run_measured, worker_argv

if TYPE_CHECKING:
    from pathlib import Path

# Interpreter, numpy, pyarrow and asammdf imports alone take ~120-160 MB of RSS, depending on
# the machine; so the bound is on growth over the same command's RSS for a tiny input. Loading
# the 200 MB input whole would add at least 200 MB; streaming keeps a few fragments in flight.
GROWTH_LIMIT_MB = 128


def growth_mb(kind: str, big: Path, tiny: Path, out: Path) -> tuple[float, dict[str, object]]:
    """Peak RSS of the task on ``big`` minus its peak RSS on ``tiny`` (same imports, same code)."""
    baseline = run_measured(worker_argv(kind, str(tiny), str(out / "tiny")))
    assert baseline["returncode"] == 0, baseline["stderr"]
    result = run_measured(worker_argv(kind, str(big), str(out / "big")))
    assert result["returncode"] == 0, result["stderr"]
    growth = float(result["peak_rss_mb"]) - float(baseline["peak_rss_mb"])  # type: ignore[arg-type]
    return growth, {**result, "baseline_peak_rss_mb": baseline["peak_rss_mb"]}


def write_big_mdf(
    path: Path, *, channels: int = 20, samples: int = 1_250_000, groups: int = 1
) -> Path:
    """Groups of float64 channels: 200 MB of samples at the defaults.

    Appended group by group: asammdf moves appended samples to a temporary file, so writing
    a 4 GB file needs memory for one group only.
    """
    mdf = MDF(version="4.10")
    t = np.arange(samples) * 0.001
    rng = np.random.default_rng(0)
    for group in range(groups):
        mdf.append(
            [
                Signal(rng.standard_normal(samples), t, name=f"ch{c}", unit="V")
                for c in range(channels)
            ],
            acq_name="Big" if groups == 1 else f"Big{group}",
        )
    mdf.save(path, overwrite=True)
    mdf.close()
    return path


def write_big_tdms(path: Path, *, segments: int = 50, per_segment: int = 250_000) -> Path:
    """Two float64 channels over many segments: 200 MB at the defaults."""
    from nptdms import ChannelObject, TdmsWriter

    rng = np.random.default_rng(0)
    with TdmsWriter(path) as writer:
        for _ in range(segments):
            writer.write_segment(
                [
                    ChannelObject("Rig", "a", rng.standard_normal(per_segment)),
                    ChannelObject("Rig", "b", rng.standard_normal(per_segment)),
                ]
            )
    return path


def test_mdf4_structured_streams_in_bounded_memory(tmp_path: Path) -> None:
    src = write_big_mdf(tmp_path / "big.mf4")
    tiny = write_big_mdf(tmp_path / "tiny.mf4", samples=1000)
    assert src.stat().st_size > 200_000_000
    growth, result = growth_mb("structured", src, tiny, tmp_path / "out")
    assert growth < GROWTH_LIMIT_MB, result
    times = pq.read_table(
        tmp_path / "out" / "big" / "structured" / "000_Big" / "data", columns=["time_ns"]
    )
    assert times.num_rows == 1_250_000


# Modules the other kinds import (asammdf's CAN parts, cantools) are all a run of several kinds
# adds over its largest kind; data of a finished kind is freed before the next starts.
KINDS_IMPORT_SLACK_MB = 48


@pytest.mark.slow
def test_several_kinds_in_one_run_peak_at_their_largest_kind(tmp_path: Path) -> None:
    """Peak RSS does not grow with the number of kinds: a run of four kinds on a 200 MB MDF4
    file peaks at about the largest of the four alone (measured: 237.5 MB against 237.4)."""
    src = write_big_mdf(tmp_path / "big.mf4")
    kinds = ["validate", "metadata", "structured", "can"]
    alone = []
    for kind in kinds:
        result = run_measured(worker_argv(kind, str(src), str(tmp_path / f"alone-{kind}")))
        assert result["returncode"] == 0, result["stderr"]
        alone.append(float(result["peak_rss_mb"]))  # type: ignore[arg-type]
    argv = worker_argv(kinds[0], str(src), str(tmp_path / "together"))
    for kind in kinds[1:]:
        argv += ["--task", kind]
    together = run_measured(argv)
    assert together["returncode"] == 0, together["stderr"]
    peak = float(together["peak_rss_mb"])  # type: ignore[arg-type]
    assert peak < max(alone) + KINDS_IMPORT_SLACK_MB, (peak, dict(zip(kinds, alone, strict=True)))
    assert sum(alone) > peak + 2 * KINDS_IMPORT_SLACK_MB  # the bound would catch a sum


def test_tdms_structured_streams_in_bounded_memory(tmp_path: Path) -> None:
    src = write_big_tdms(tmp_path / "big.tdms")
    tiny = write_big_tdms(tmp_path / "tiny.tdms", segments=2, per_segment=1000)
    assert src.stat().st_size > 200_000_000
    growth, result = growth_mb("structured", src, tiny, tmp_path / "out")
    assert growth < GROWTH_LIMIT_MB, result
    times = pq.read_table(
        tmp_path / "out" / "big" / "structured" / "Rig" / "data", columns=["time_ns"]
    )
    assert times.num_rows == 50 * 250_000


@pytest.mark.slow
def test_mdf4_4gb_input_stays_under_512mb(tmp_path: Path) -> None:
    """validate, metadata and structured on a 4 GB MDF4 input each stay under 512 MB peak RSS."""
    src = write_big_mdf(tmp_path / "huge.mf4", channels=20, samples=3_125_000, groups=8)
    assert src.stat().st_size > 4_000_000_000
    for kind in ("validate", "metadata", "structured"):
        result = run_measured(worker_argv(kind, str(src), str(tmp_path / "out")))
        assert result["returncode"] == 0, result["stderr"]
        print(f"{kind}: {result['peak_rss_mb']:.0f} MB peak RSS, {result['seconds']:.1f} s")
        assert float(result["peak_rss_mb"]) < 512, (kind, result)


def write_unordered_mcap(path: Path, *, messages: int = 2000, size: int = 100_000) -> Path:
    """An unchunked MCAP whose log times run backwards: 200 MB of messages at the defaults."""
    from mcap.writer import Writer

    payload = b"x" * size
    with path.open("wb") as f:
        writer = Writer(f, use_chunking=False)
        writer.start(profile="", library="avops-tests")
        channel = writer.register_channel("/blob", "octets", 0)
        for i in range(messages):
            time_ns = (messages - i) * 1_000_000
            writer.add_message(channel, time_ns, payload, time_ns)
        writer.finish()
    return path


def test_unordered_mcap_is_sorted_in_bounded_memory(tmp_path: Path) -> None:
    """Log times out of order (allowed by the spec) are sorted through spilled runs: reading
    the 200 MB file in time order does not hold it in memory."""
    src = write_unordered_mcap(tmp_path / "big.mcap")
    tiny = write_unordered_mcap(tmp_path / "tiny.mcap", messages=10)
    assert src.stat().st_size > 200_000_000
    growth, result = growth_mb("metadata", src, tiny, tmp_path / "out")
    assert growth < GROWTH_LIMIT_MB, result
    meta = json.loads((tmp_path / "out" / "big" / "metadata" / "metadata.json").read_text())
    assert meta["streams"]["/blob"]["count"] == 2000
