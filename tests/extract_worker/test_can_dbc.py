"""The ``can`` task with ``--dbc``: the sample drive's CAN bus log decoded back to its signals.

The sample drive encodes its planted speed profile into ``VehicleDynamics`` frames with its DBC
(avops/sample_drive/dbc.py) and logs them as MDF4 bus logging. Decoding with the DBC given on
the command line (as the extraction plan passes the measurement's sidecars) must give the
planted speed within the signal's quantization, and frames of ids no DBC knows are counted and
kept in the raw frames table, not dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cantools.database.can import Database

from avops.sample_drive.dbc import STEERING_ID, build_database, can_frames
from avops.sample_drive.mdf4 import write_mdf4
from avops.sample_drive.route import Drive, build_drive
from extract_worker.cli import main

SPEED_QUANTUM_KMH = 0.01


@pytest.fixture(scope="module")
def drive() -> Drive:
    return build_drive(0)


@pytest.fixture
def bus_log(tmp_path: Path, drive: Drive) -> Path:
    path = tmp_path / "vehicle.mf4"
    write_mdf4(path, drive, can_frames(drive, build_database()))
    return path


def _dbc(path: Path, database: Database) -> Path:
    path.write_bytes(database.as_dbc_string().encode("ascii"))
    return path


def _run(bus_log: Path, out: Path, *dbc: Path) -> dict[str, object]:
    args = ["run", "--task", "can", "--input", str(bus_log), "--output", str(out), "--no-limits"]
    for path in dbc:
        args += ["--dbc", str(path)]
    assert main(args) == 0
    manifest: dict[str, object] = json.loads((out / "can" / "_manifest.json").read_text())
    return manifest


def _one(out: Path, pattern: str) -> Path:
    (found,) = sorted(out.rglob(pattern))
    return found


def test_decoded_speed_matches_the_planted_profile(
    bus_log: Path, drive: Drive, tmp_path: Path
) -> None:
    """VehicleSpeed decoded from the MDF4 bus log = the drive's speed in km/h +- half a step."""
    out = tmp_path / "out"
    manifest = _run(bus_log, out, _dbc(tmp_path / "vehicle.dbc", build_database()))
    table = pq.read_table(_one(out, "VehicleDynamics.parquet"))
    time_ns = table.column("time_ns").to_numpy()
    speed = table.column("VehicleSpeed").to_numpy()
    t = (time_ns - drive.stamp_ns(0.0)) / 1e9
    planted = np.asarray(drive.at(drive.speed, t)) * 3.6
    assert len(speed) == round(drive.duration * 50)
    assert np.max(np.abs(speed - planted)) <= SPEED_QUANTUM_KMH / 2 + 1e-9
    decoding = json.dumps(manifest)
    assert '"unknown_frames": 0' in decoding


def test_frames_of_unknown_ids_are_counted_and_kept(bus_log: Path, tmp_path: Path) -> None:
    """A DBC without the steering message: its 2000 frames are counted, still in frames.parquet."""
    full = build_database()
    partial = Database(
        messages=[m for m in full.messages if m.frame_id != STEERING_ID], nodes=full.nodes
    )
    out = tmp_path / "out"
    manifest = _run(bus_log, out, _dbc(tmp_path / "partial.dbc", partial))
    frames = pq.read_table(_one(out, "frames.parquet"))
    steering = int(np.sum(frames.column("arbitration_id").to_numpy() == STEERING_ID))
    assert steering == 2000
    assert frames.num_rows == 6000
    stats = next(
        value for value in _walk(manifest) if isinstance(value, dict) and "unknown_frames" in value
    )
    assert stats["unknown_frames"] == steering
    assert stats["unknown_ids"] == [STEERING_ID]
    assert stats["decoded_frames"] == 4000
    assert not list(out.rglob("Steering*.parquet"))


def _walk(value: object) -> list[object]:
    found: list[object] = [value]
    if isinstance(value, dict):
        for item in value.values():
            found += _walk(item)
    elif isinstance(value, list):
        for item in value:
            found += _walk(item)
    return found
