"""``generate_drive``: write one complete sample drive (recordings, DBC, truth, manifest last)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avops.sample_drive.context import ROADS_NAME, WEATHER_NAME, write_roads, write_weather
from avops.sample_drive.dbc import build_database, can_frames
from avops.sample_drive.manifest_writer import write_manifest
from avops.sample_drive.mdf4 import SIGNALS, write_mdf4
from avops.sample_drive.profiles import PROFILES, Size
from avops.sample_drive.ros1 import ROS1_TOPICS, write_ros1_bag
from avops.sample_drive.ros2 import CAMERA_RATE_HZ, TOPICS, ticks, write_ros2_bag
from avops.sample_drive.route import build_drive
from avops.sample_drive.tdms import TDMS_GROUPS, write_tdms
from avops.sample_drive.truth import ROUTE_NAME, TRUTH_NAME, build_truth, write_route, write_truth
from dataops.models.manifest import MANIFEST_NAME, FileFormat, Manifest

__all__ = ["FILE_NAMES", "DriveSummary", "ProgressCallback", "generate_drive", "vehicle_id_for"]

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(step description, units done, units total)``; a unit is a camera frame."""

ROS2_DIR = "ros2_drive"
FILE_NAMES = {
    "ros2": ROS2_DIR,
    "ros1": "ros1_drive.bag",
    "mdf4": "vehicle.mf4",
    "dbc": "vehicle.dbc",
    "tdms": "daq.tdms",
}
# Steps other than the ROS 2 bag, each weighted like this many camera frames in the progress bar.
_SMALL_STEP_UNITS = 10


@dataclass(frozen=True)
class DriveSummary:
    """What :func:`generate_drive` wrote."""

    out_dir: Path
    manifest: Manifest
    manifest_path: Path
    truth_path: Path
    total_bytes: int
    seconds: float
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def vehicle_id_for(seed: int) -> str:
    """A 17-character VIN-shaped vehicle id for the seed."""
    return f"WAVSAMPLE{seed % 10**8:08d}"


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty; the sample drive needs an empty directory")
    out_dir.mkdir(parents=True, exist_ok=True)


def generate_drive(
    out_dir: Path,
    *,
    seed: int = 0,
    size: Size = "small",
    progress: ProgressCallback | None = None,
) -> DriveSummary:
    """Write a sample drive into the empty directory ``out_dir``; the manifest is written last.

    The same ``seed`` and ``size`` give byte-identical files.
    """
    started = time.perf_counter()
    profile = PROFILES[size]
    _check_out_dir(out_dir)
    drive = build_drive(seed)
    database = build_database()
    vehicle_id = vehicle_id_for(seed)
    frames_total = sum(1 for _ in ticks(drive, CAMERA_RATE_HZ))
    total = frames_total + 4 * _SMALL_STEP_UNITS
    done = 0

    def report(step: str, units: int) -> None:
        nonlocal done
        done += units
        if progress is not None:
            progress(step, done, total)

    report("ROS 2 bag", 0)
    ros2_counts = write_ros2_bag(
        out_dir / ROS2_DIR,
        drive,
        profile,
        seed=seed,
        frames=can_frames(drive, database),
        on_frame=lambda: report("ROS 2 bag", 1),
    )
    ros1_counts = write_ros1_bag(out_dir / FILE_NAMES["ros1"], drive, profile, seed)
    report("ROS 1 bag", _SMALL_STEP_UNITS)
    # cantools emits CRLF line ends; bytes, not text mode, so the file is the same on every OS.
    (out_dir / FILE_NAMES["dbc"]).write_bytes(database.as_dbc_string().encode("ascii"))
    write_mdf4(out_dir / FILE_NAMES["mdf4"], drive, can_frames(drive, database))
    report("MDF4 and DBC", _SMALL_STEP_UNITS)
    segments = write_tdms(out_dir / FILE_NAMES["tdms"], drive, seed)
    report("TDMS", _SMALL_STEP_UNITS)

    ros2_files = sorted(p.name for p in (out_dir / ROS2_DIR).iterdir())
    can_count = ros2_counts["/can/rx"]
    recordings: dict[str, Any] = {
        "ros2": {
            "path": ROS2_DIR,
            "storage": "mcap",
            "compression": "zstd chunks" if profile.compress_mcap else "none",
            "camera": [profile.camera_width, profile.camera_height],
            "lidar_points": profile.lidar.points,
            "topics": {t: {"type": TOPICS[t], "count": n} for t, n in ros2_counts.items()},
        },
        "ros1": {
            "path": FILE_NAMES["ros1"],
            "compression": "lz4",
            "topics": {t: {"type": ROS1_TOPICS[t], "count": n} for t, n in ros1_counts.items()},
        },
        "mdf4": {
            "path": FILE_NAMES["mdf4"],
            "signals": {name: unit for name, (unit, _) in SIGNALS.items()},
            "signal_rate_hz": 100,
            "can_frames": can_count,
            "dbc": FILE_NAMES["dbc"],
        },
        "tdms": {
            "path": FILE_NAMES["tdms"],
            "groups": TDMS_GROUPS,
            "segments": segments,
        },
    }
    truth = build_truth(drive, seed=seed, size=size, vehicle_id=vehicle_id, recordings=recordings)
    write_truth(out_dir / TRUTH_NAME, truth)
    write_route(out_dir / ROUTE_NAME, drive)
    write_weather(out_dir / WEATHER_NAME, drive)
    write_roads(out_dir / ROADS_NAME, drive)

    listed = [(f"{ROS2_DIR}/{name}", FileFormat.ROSBAG2) for name in ros2_files]
    listed += [
        (FILE_NAMES["ros1"], FileFormat.ROSBAG1),
        (FILE_NAMES["mdf4"], FileFormat.MDF4),
        (FILE_NAMES["dbc"], FileFormat.DBC),
        (FILE_NAMES["tdms"], FileFormat.TDMS),
        (TRUTH_NAME, FileFormat.OTHER),
        (ROUTE_NAME, FileFormat.OTHER),
        (WEATHER_NAME, FileFormat.OTHER),
        (ROADS_NAME, FileFormat.OTHER),
    ]
    manifest = write_manifest(
        out_dir,
        drive,
        listed,
        vehicle_id=vehicle_id,
        tags=["sample", f"seed={seed}", f"size={size}"],
    )
    report("manifest", _SMALL_STEP_UNITS)
    return DriveSummary(
        out_dir=out_dir,
        manifest=manifest,
        manifest_path=out_dir / MANIFEST_NAME,
        truth_path=out_dir / TRUTH_NAME,
        total_bytes=sum(f.size for f in manifest.files) + (out_dir / MANIFEST_NAME).stat().st_size,
        seconds=time.perf_counter() - started,
        counts={"ros2": ros2_counts, "ros1": ros1_counts},
    )
