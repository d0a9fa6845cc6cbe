"""A manifest written for a folder takes the drive's times from its recordings, not file mtimes."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from rich.console import Console

from avops.cli.upload import manifest_for_directory
from extract_worker.time_span import EARLIEST_WALL_CLOCK_NS, recording_span
from tests.extract_worker.recordings import (
    BASE_NS,
    FRAMES,
    ROS_FORMATS,
    STEP_NS,
    write_recording,
    write_ros1,
    write_ros2,
)

BASE = datetime.fromtimestamp(BASE_NS / 1e9, UTC)  # 2023-11-14: long before any file's mtime


@pytest.mark.parametrize("fmt", ROS_FORMATS)
def test_span_of_each_message_format_is_its_first_and_last_message(
    fmt: str, tmp_path: Path
) -> None:
    """Every message format reports the log time of its first and (after) its last message."""
    span = recording_span([write_recording(fmt, tmp_path)])
    assert span.skipped == {}
    assert span.start_ns == BASE_NS
    last_ns = BASE_NS + (FRAMES - 1) * STEP_NS
    assert span.end_ns is not None
    assert last_ns <= span.end_ns <= last_ns + 1


def test_span_joins_recordings_and_names_what_it_could_not_read(tmp_path: Path) -> None:
    """Several recordings widen the span; an unreadable one is listed with its reason."""
    early = write_ros1(tmp_path / "early.bag")
    later = write_ros2(tmp_path / "later_bag", frames=FRAMES * 3)
    broken = tmp_path / "broken.bag"
    broken.write_bytes(b"#ROSBAG V2.0\n" + b"\x00" * 64)
    span = recording_span([early, later, broken])
    assert span.used == ["early.bag", "later_bag"]
    assert span.start_ns == BASE_NS
    assert span.end_ns is not None and span.end_ns >= BASE_NS + (FRAMES * 3 - 1) * STEP_NS
    assert set(span.skipped) == {"broken.bag"}


def test_relative_clocks_are_no_date(tmp_path: Path) -> None:
    """A recording stamped with time since boot does not set the drive's date."""
    span = recording_span([])
    span.add("sim.bag", 5_000_000_000, 9_000_000_000)
    assert span.start is None
    assert "relative" in span.skipped["sim.bag"]
    span.add("real.bag", EARLIEST_WALL_CLOCK_NS + 1_000, EARLIEST_WALL_CLOCK_NS + 2_000)
    assert span.start == datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert span.end == datetime(2000, 1, 1, 0, 0, 0, 2, tzinfo=UTC)


def test_end_rounds_up_to_cover_the_last_message() -> None:
    """Datetimes hold microseconds: the end is rounded up so the last message is inside."""
    span = recording_span([])
    span.add("a.bag", EARLIEST_WALL_CLOCK_NS + 1_500, EARLIEST_WALL_CLOCK_NS + 2_500)
    assert span.start == datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert span.end == datetime(2000, 1, 1, 0, 0, 0, 3, tzinfo=UTC)


def test_manifest_for_a_folder_is_dated_by_its_recordings(tmp_path: Path) -> None:
    """A 2023 drive copied today is still a 2023 drive in its manifest (so in raw and search)."""
    drive = tmp_path / "drive"
    drive.mkdir()
    write_ros1(drive / "front.bag")
    write_ros2(drive / "ros2_bag", storage="mcap")
    (drive / "vehicle.dbc").write_text('VERSION ""\n')
    now = datetime.now(UTC).timestamp()
    for path in drive.rglob("*"):
        os.utime(path, (now, now))
    manifest = manifest_for_directory(drive, "WVW-TEST-001", None, None, Console(quiet=True))
    assert manifest.recording_start == BASE
    assert manifest.recording_start.year == 2023
    assert manifest.recording_end > manifest.recording_start
    assert manifest.recording_end < datetime(2023, 11, 15, tzinfo=UTC)
    assert {f.path for f in manifest.files} >= {"front.bag", "vehicle.dbc"}


def test_explicit_times_win_over_the_recordings(tmp_path: Path) -> None:
    """--start and --end given by the user are kept as they are."""
    drive = tmp_path / "drive"
    drive.mkdir()
    write_ros1(drive / "front.bag")
    start = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    end = datetime(2024, 1, 2, 4, 0, 0, tzinfo=UTC)
    manifest = manifest_for_directory(drive, "WVW-TEST-001", start, end, Console(quiet=True))
    assert (manifest.recording_start, manifest.recording_end) == (start, end)


def test_a_folder_without_dated_recordings_asks_for_times(tmp_path: Path) -> None:
    """No recording time and no --start/--end: the upload stops and says what to pass."""
    drive = tmp_path / "drive"
    drive.mkdir()
    (drive / "notes.txt").write_text("no recording here")
    with pytest.raises(typer.BadParameter, match="--start and --end"):
        manifest_for_directory(drive, "WVW-TEST-001", None, None, Console(quiet=True))
