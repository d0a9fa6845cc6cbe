"""The sample drive: every file opens with its own reader and agrees with truth.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cantools
import numpy as np
import pytest
import typer
from asammdf import MDF
from nptdms import TdmsFile
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore
from typer.testing import CliRunner, Result

from avops.cli.sample import sample
from avops.sample_drive import DriveSummary, generate_drive
from dataops.manifest import parse_manifest
from dataops.models.manifest import FileFormat, Manifest
from tests.drives import shared_drive

MB = 1_000_000


@pytest.fixture(scope="session")
def drive_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small drive of seed 0, shared read-only with the other folders' tests."""
    return shared_drive(tmp_path_factory, seed=0)


@pytest.fixture(scope="session")
def cli_drive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """A drive of another seed (1) written by the `avops sample` command, and its CLI result.

    One generation serves the CLI test and the other-seed half of the determinism test.
    """
    out = tmp_path_factory.mktemp("cli") / "cli"
    cli = typer.Typer()
    cli.command()(sample)
    return out, CliRunner().invoke(cli, [str(out), "--seed", "1"])


@pytest.fixture(scope="session")
def manifest(drive_dir: Path) -> Manifest:
    return parse_manifest((drive_dir / "manifest.json").read_bytes())


@pytest.fixture(scope="session")
def truth(drive_dir: Path) -> dict[str, Any]:
    return json.loads((drive_dir / "truth.json").read_text())


@pytest.fixture(scope="session")
def ros2_messages(drive_dir: Path) -> dict[str, list[tuple[int, Any]]]:
    """Every decoded message of the lighter ROS 2 topics, by topic (images excluded)."""
    wanted = {"/imu/data", "/vehicle/speed", "/perception/detections", "/gps/fix", "/can/rx"}
    found: dict[str, list[tuple[int, Any]]] = {topic: [] for topic in wanted}
    with AnyReader([drive_dir / "ros2_drive"]) as reader:
        connections = [c for c in reader.connections if c.topic in wanted]
        for conn, stamp, raw in reader.messages(connections=connections):
            found[conn.topic].append((stamp, reader.deserialize(raw, conn.msgtype)))
    return found


def _events(truth: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in truth["events"] if e["type"] == kind]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_lists_every_file_with_size_and_hash(drive_dir: Path, manifest: Manifest) -> None:
    on_disk = {
        p.relative_to(drive_dir).as_posix()
        for p in drive_dir.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert {f.path for f in manifest.files} == on_disk
    for item in manifest.files:
        path = drive_dir / item.path
        assert item.size == path.stat().st_size
        assert item.sha256 == _sha256(path)
    formats = {f.path: f.format for f in manifest.files}
    assert formats["ros2_drive/metadata.yaml"] is FileFormat.ROSBAG2
    assert formats["ros2_drive/ros2_drive.mcap"] is FileFormat.ROSBAG2
    assert formats["vehicle.dbc"] is FileFormat.DBC
    assert formats["truth.json"] is FileFormat.OTHER
    assert set(manifest.recordings()) == {"ros2_drive", "ros1_drive.bag", "vehicle.mf4", "daq.tdms"}
    assert manifest.vehicle_id == "WAVSAMPLE00000000"
    assert (manifest.recording_end - manifest.recording_start).total_seconds() == 40


def test_small_drive_is_small(drive_dir: Path) -> None:
    total = sum(p.stat().st_size for p in drive_dir.rglob("*") if p.is_file())
    assert total < 20 * MB


def test_ros2_bag_topics_types_counts(drive_dir: Path, truth: dict[str, Any]) -> None:
    expected = truth["recordings"]["ros2"]["topics"]
    with AnyReader([drive_dir / "ros2_drive"]) as reader:
        got = {c.topic: {"type": c.msgtype, "count": c.msgcount} for c in reader.connections}
        assert got == expected
        image_conn = next(c for c in reader.connections if c.topic == "/camera/front/image_raw")
        _, _, raw = next(iter(reader.messages(connections=[image_conn])))
        image = reader.deserialize(raw, image_conn.msgtype)
    assert (image.width, image.height, image.encoding) == (640, 360, "rgb8")
    assert len(image.data) == 640 * 360 * 3
    assert expected["/camera/front/image_raw"]["count"] == 400
    assert expected["/imu/data"]["count"] == 4000
    assert expected["/can/rx"]["type"] == "can_msgs/msg/Frame"
    assert expected["/perception/detections"]["type"] == "vision_msgs/msg/Detection2DArray"


def test_ros2_custom_types_are_embedded(drive_dir: Path) -> None:
    # A reader with only the default typestore must still decode CAN and detections.
    with AnyReader(
        [drive_dir / "ros2_drive"], default_typestore=get_typestore(Stores.EMPTY)
    ) as reader:
        conn = next(c for c in reader.connections if c.topic == "/can/rx")
        _, _, raw = next(iter(reader.messages(connections=[conn])))
        frame = reader.deserialize(raw, conn.msgtype)
    assert frame.id == 0x101
    assert frame.dlc == 8


def test_ros1_bag_topics_types_counts(drive_dir: Path, truth: dict[str, Any]) -> None:
    expected = truth["recordings"]["ros1"]["topics"]
    with AnyReader([drive_dir / "ros1_drive.bag"]) as reader:
        got = {c.topic: {"type": c.msgtype, "count": c.msgcount} for c in reader.connections}
        assert got == expected
        conn = next(
            c for c in reader.connections if c.topic == "/camera/front/image_raw/compressed"
        )
        _, _, raw = next(iter(reader.messages(connections=[conn])))
        jpeg = reader.deserialize(raw, conn.msgtype)
    assert jpeg.format == "jpeg"
    assert bytes(jpeg.data[:2]) == b"\xff\xd8"
    assert expected["/imu/data"]["count"] == 4000


def test_mdf4_channels_units_and_can_decode(drive_dir: Path) -> None:
    database = cantools.database.load_file(drive_dir / "vehicle.dbc")
    with MDF(drive_dir / "vehicle.mf4") as mdf:
        assert mdf.header.start_time.isoformat() == "2026-05-04T08:00:00+00:00"
        units = {
            "VehicleSpeed": "km/h",
            "YawRate": "deg/s",
            "SteeringWheelAngle": "deg",
            "BrakePressure": "bar",
            "LatAccel": "m/s^2",
            "LongAccel": "m/s^2",
        }
        for name, unit in units.items():
            signal = mdf.get(name)
            assert signal.unit == unit
            assert signal.comment
            assert len(signal.samples) == 4000
        speed = mdf.get("VehicleSpeed")
        ids = mdf.get("CAN_DataFrame.ID")
        payloads = mdf.get("CAN_DataFrame.DataBytes")
    dynamics = np.flatnonzero(ids.samples == 0x101)
    assert len(dynamics) == 2000
    for k in (dynamics[0], dynamics[700], dynamics[1000]):
        t = ids.timestamps[k]
        decoded = database.decode_message(0x101, bytes(payloads.samples[k]))
        assert decoded["VehicleSpeed"] == pytest.approx(
            np.interp(t, speed.timestamps, speed.samples), abs=0.01
        )
    first = database.decode_message(0x101, bytes(payloads.samples[dynamics[0]]))
    assert first["VehicleSpeed"] == pytest.approx(50.04, abs=0.01)


def test_mdf4_bus_logging_extracts_with_the_dbc(drive_dir: Path) -> None:
    with MDF(drive_dir / "vehicle.mf4") as mdf:
        extracted = mdf.extract_bus_logging({"CAN": [(drive_dir / "vehicle.dbc", 0)]})
        pressure = extracted.get("BrakePressure")
    assert pressure.samples.max() > 80  # the hard brake: 7.5 m/s^2 at ~12 bar per m/s^2


def test_tdms_groups_channels_properties(drive_dir: Path, truth: dict[str, Any]) -> None:
    with TdmsFile.open(drive_dir / "daq.tdms") as tdms:
        groups = {g.name: g for g in tdms.groups()}
        assert set(groups) == set(truth["recordings"]["tdms"]["groups"])
        for name, channels in truth["recordings"]["tdms"]["groups"].items():
            group = groups[name]
            assert {c.name for c in group.channels()} == set(channels)
            rate = group.properties["sample_rate"]
            for channel in group.channels():
                assert channel.properties["unit_string"] == channels[channel.name]
                assert channel.properties["wf_increment"] == pytest.approx(1 / rate)
                assert len(channel) == round(40 * rate)
    assert truth["recordings"]["tdms"]["segments"] == 8


def _in(stamp: int, event: dict[str, Any]) -> bool:
    return event["start_ns"] <= stamp < event["end_ns"]


def test_hard_brake_in_imu(
    ros2_messages: dict[str, list[tuple[int, Any]]], truth: dict[str, Any]
) -> None:
    (brake,) = _events(truth, "hard_brake")
    inside = [m.linear_acceleration.x for s, m in ros2_messages["/imu/data"] if _in(s, brake)]
    before = [
        m.linear_acceleration.x
        for s, m in ros2_messages["/imu/data"]
        if s < brake["start_ns"] - 10**8
    ]
    assert min(inside) < -6
    assert min(before) > -1


def test_stop_in_speed(
    ros2_messages: dict[str, list[tuple[int, Any]]], truth: dict[str, Any]
) -> None:
    (stop,) = _events(truth, "stop")
    assert stop["end_s"] - stop["start_s"] > 5
    inside = [m.data for s, m in ros2_messages["/vehicle/speed"] if _in(s, stop)]
    assert inside
    assert max(inside) < 0.05
    after = [m.data for s, m in ros2_messages["/vehicle/speed"] if s > stop["end_ns"] + 10**10]
    assert min(after) > 10


def test_lane_change_in_yaw_rate(
    ros2_messages: dict[str, list[tuple[int, Any]]], truth: dict[str, Any]
) -> None:
    (change,) = _events(truth, "lane_change")
    assert 3 <= change["end_s"] - change["start_s"] <= 4
    yaw = [(s, m.angular_velocity.z) for s, m in ros2_messages["/imu/data"]]
    inside = [abs(z) for s, z in yaw if _in(s, change)]
    start_ns = truth_start_ns(truth)
    straight = [abs(z) for s, z in yaw if s < start_ns + 9 * 10**9]
    assert max(inside) > 0.1  # rad/s
    assert max(straight) < 0.02


def truth_start_ns(truth: dict[str, Any]) -> int:
    brake = _events(truth, "hard_brake")[0]
    return brake["start_ns"] - round(brake["start_s"] * 1e9)


def test_pedestrian_detections_exactly_in_windows(
    ros2_messages: dict[str, list[tuple[int, Any]]], truth: dict[str, Any]
) -> None:
    windows = _events(truth, "pedestrian_in_view")
    assert len(windows) == 2
    expected = {stamp for w in windows for stamp in w["frame_stamps_ns"]}
    with_pedestrian = {
        stamp
        for stamp, msg in ros2_messages["/perception/detections"]
        if any(r.hypothesis.class_id == "pedestrian" for d in msg.detections for r in d.results)
    }
    assert with_pedestrian == expected
    for window in windows:
        assert len(window["frames"]) == len(window["frame_stamps_ns"]) > 10


def test_gps_follows_the_route(
    drive_dir: Path, ros2_messages: dict[str, list[tuple[int, Any]]], truth: dict[str, Any]
) -> None:
    route = json.loads((drive_dir / "route.geojson").read_text())
    line = next(f for f in route["features"] if f["properties"]["name"] == "route")
    waypoints = np.array(line["geometry"]["coordinates"])  # lon, lat
    assert len(waypoints) == truth["route"]["waypoints"]
    fixes = np.array([(m.longitude, m.latitude) for _, m in ros2_messages["/gps/fix"]])
    scale = np.array([111_320.0 * np.cos(np.radians(fixes[0, 1])), 111_320.0])
    distance = np.linalg.norm((fixes[:, None, :] - waypoints[None, :, :]) * scale, axis=2).min(
        axis=1
    )
    # Waypoints every 10 m, a lane change of 3.5 m and 0.15 m noise: never more than ~9 m away.
    assert distance.max() < 9
    assert distance[0] < 1


def test_can_topic_matches_speed_topic(
    drive_dir: Path, ros2_messages: dict[str, list[tuple[int, Any]]]
) -> None:
    database = cantools.database.load_file(drive_dir / "vehicle.dbc")
    speed = {s: m.data for s, m in ros2_messages["/vehicle/speed"]}
    frames = [(s, m) for s, m in ros2_messages["/can/rx"] if m.id == 0x101]
    for stamp, frame in frames[::97]:
        decoded = database.decode_message(frame.id, bytes(frame.data[: frame.dlc]))
        assert decoded["VehicleSpeed"] == pytest.approx(speed[stamp] * 3.6, abs=0.01)


def test_same_seed_is_byte_identical_other_seed_differs(
    drive_dir: Path, manifest: Manifest, cli_drive: tuple[Path, Result], tmp_path: Path
) -> None:
    again = generate_drive(tmp_path / "again", seed=0)
    assert _sha256(again.manifest_path) == _sha256(drive_dir / "manifest.json")
    other_dir, written = cli_drive
    assert written.exit_code == 0, written.output
    other = parse_manifest((other_dir / "manifest.json").read_bytes())
    theirs = {f.path: f.sha256 for f in other.files}
    ours = {f.path: f.sha256 for f in manifest.files}
    assert theirs.keys() == ours.keys()
    # Every recording differs (events move, noise differs); only the DBC and the road network
    # (the same streets for every seed) are the same by design.
    assert sorted(p for p in ours if ours[p] == theirs[p]) == ["roads.geojson", "vehicle.dbc"]


def test_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        generate_drive(tmp_path, seed=0)


def test_cli_writes_a_drive(cli_drive: tuple[Path, Result], tmp_path: Path) -> None:
    """`avops sample DIR --seed N` writes a drive with a valid manifest; a bad size is refused."""
    out, result = cli_drive
    assert result.exit_code == 0, result.output
    assert "manifest" in result.output
    parse_manifest((out / "manifest.json").read_bytes())
    cli = typer.Typer()
    cli.command()(sample)
    bad = CliRunner().invoke(cli, [str(tmp_path / "bad"), "--size", "medium"])
    assert bad.exit_code != 0


@pytest.mark.slow
def test_large_drive(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    summary: DriveSummary = generate_drive(
        tmp_path / "large",
        seed=0,
        size="large",
        progress=lambda _s, done, total: seen.append((done, total)),
    )
    assert summary.total_bytes >= 1_000_000_000
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert seen[-1][0] == seen[-1][1]
    parse_manifest(summary.manifest_path.read_bytes())
