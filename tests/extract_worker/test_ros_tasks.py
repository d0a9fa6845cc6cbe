"""Every message task kind against every ROS container format (one suite, parametrized)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from extract_worker.commit import MANIFEST_NAME, SUCCESS_NAME
from extract_worker.config import Downsampling
from extract_worker.run import run_local_task
from tests.extract_worker.recordings import FRAMES, IMAGE_H, IMAGE_W, POINTS

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig


def run(kind: str, recording: Path, out: Path, config: ExtractConfig, **kw: object) -> dict:
    return run_local_task(kind=kind, input_path=recording, output=out, config=config, **kw)  # type: ignore[arg-type]


def test_validate_and_metadata(ros_recording: Path, tmp_path: Path, config: ExtractConfig) -> None:
    out = tmp_path / "out"
    manifest = run("validate", ros_recording, out, config)
    assert manifest["validation"]["checks"]
    assert (out / "validate" / SUCCESS_NAME).is_file()

    manifest = run("metadata", ros_recording, out, config)
    meta = json.loads((out / "metadata" / "metadata.json").read_text())
    assert meta == manifest["metadata"]
    assert meta["stream_count"] == 9
    gps = meta["streams"]["/gps/fix"]
    assert gps["type"] == "sensor_msgs/msg/NavSatFix"
    assert gps["count"] == FRAMES
    assert gps["frequency_hz"] == pytest.approx(10.0)
    assert gps["bytes"] > 0
    assert meta["duration_s"] == pytest.approx(0.5, abs=1e-3)


def test_structured_gps_imu(ros_recording: Path, tmp_path: Path, config: ExtractConfig) -> None:
    out = tmp_path / "out"
    gps = run("gps", ros_recording, out, config)
    assert [f["stream"] for f in gps["files"]] == ["/gps/fix"]
    table = pq.read_table(out / "gps" / "gps_fix" / "data.parquet")
    assert table.num_rows == FRAMES
    assert table.column("latitude").to_pylist()[1] == pytest.approx(48.00001)
    assert table.schema.field("status.service").type == "uint16"
    assert table.column("position_covariance").to_pylist()[0] == [0.0] * 9

    imu_manifest = run("imu", ros_recording, out, config)
    imu = pq.read_table(out / "imu" / imu_manifest["files"][0]["path"])
    assert imu.column("linear_acceleration.z").to_pylist() == [9.81] * FRAMES

    structured = run("structured", ros_recording, out, config)
    # Everything the other kinds do not claim: the custom track list and the string topic.
    assert sorted(f["stream"] for f in structured["files"]) == ["/status", "/tracks"]
    tracks = pq.read_table(out / "structured" / "tracks" / "data.parquet").to_pylist()
    assert tracks[2]["tracks"][1] == {
        "id": 1,
        "position": {"x": 1.0, "y": 1.0, "z": 0.0},
        "label": "car",
    }
    assert tracks[3]["scores"] == [0.0, 1.0, 2.0]
    assert tracks[0]["header.frame_id"] == "base_link"


def test_camera(ros_recording: Path, tmp_path: Path, config: ExtractConfig) -> None:
    out = tmp_path / "out"
    manifest = run("camera", ros_recording, out, config)
    assert {f["stream"] for f in manifest["files"]} == {
        "/camera/front/image_raw",
        "/camera/rear/compressed",
    }
    raw = pq.read_table(out / "camera" / "camera_front_image_raw" / "index.parquet").to_pylist()
    assert len(raw) == FRAMES
    assert raw[0]["encoding"] == "rgb8"
    assert raw[0]["frame_id"] == "camera_front"
    assert raw[1]["header_stamp_ns"] == 1_700_000_000_100_000_000
    with Image.open(out / "camera" / raw[0]["path"]) as image:
        assert image.format == "JPEG"
        assert image.size == (IMAGE_W, IMAGE_H)

    compressed = pq.read_table(out / "camera" / "camera_rear_compressed" / "index.parquet")
    rows = compressed.to_pylist()
    assert (rows[0]["width"], rows[0]["height"]) == (IMAGE_W, IMAGE_H)
    from tests.extract_worker.recordings import jpeg_bytes

    # Passthrough: the stored bytes are exactly what was recorded.
    assert (out / "camera" / rows[3]["path"]).read_bytes() == jpeg_bytes(shade=3)


def test_lidar_and_radar(ros_recording: Path, tmp_path: Path, config: ExtractConfig) -> None:
    out = tmp_path / "out"
    lidar = run("lidar", ros_recording, out, config)
    radar = run("radar", ros_recording, out, config)
    assert [f["stream"] for f in lidar["files"]] == ["/lidar/top/points"]
    assert [f["stream"] for f in radar["files"]] == ["/radar/front/points"]
    table = pq.read_table(out / "lidar" / "lidar_top_points" / "points")
    assert [f["path"] for f in lidar["files"]] == ["lidar_top_points/points/part-00000.parquet"]
    assert table.num_rows == FRAMES * POINTS
    assert table.schema.field("x").type == "float"
    frame2 = table.filter(np.asarray(table.column("frame")) == 2)
    expected = np.arange(POINTS * 4, dtype=np.float32).reshape(POINTS, 4) + 2
    assert np.array_equal(frame2.column("intensity").to_numpy(), expected[:, 3])
    assert set(frame2.column("time_ns").to_pylist()) == {1_700_000_000_200_000_000}


def test_topic_filter_and_downsampling(
    ros_recording: Path, tmp_path: Path, config: ExtractConfig
) -> None:
    config = config.model_copy(
        update={
            "downsampling": {"/imu/*": Downsampling(every_n=2), "/gps/*": Downsampling(rate_hz=4)}
        }
    )
    out = tmp_path / "out"
    imu = run("imu", ros_recording, out, config)
    assert imu["files"][0]["rows"] == 3
    assert imu["files"][0]["downsampling"] == {
        "mode": "every_n",
        "every_n": 2,
        "kept": 3,
        "dropped": 3,
    }
    gps = run("gps", ros_recording, out, config)
    # 10 Hz source at 4 Hz target: kept at 0, 300, 600 ms... (6 frames over 500 ms -> 0, 300).
    assert gps["files"][0]["rows"] == 2
    meta = pq.read_schema(out / "gps" / "gps_fix" / "data.parquet").metadata
    assert json.loads(meta[b"downsampling"]) == {"rate_hz": 4.0, "every_n": None}

    filtered = run("structured", ros_recording, out, config, topics=["/status"])
    assert [f["stream"] for f in filtered["files"]] == ["/status"]


def test_rerun_is_idempotent(ros_recording: Path, tmp_path: Path, config: ExtractConfig) -> None:
    out = tmp_path / "out"
    first = run("gps", ros_recording, out, config)
    second = run("gps", ros_recording, out, config)
    assert second == first
    forced = run("gps", ros_recording, out, config, force=True)
    assert forced["run_id"] != first["run_id"]
    assert json.loads((out / "gps" / MANIFEST_NAME).read_text())["run_id"] == forced["run_id"]
    assert not (out / "_staging").exists()


def test_camera_parquet_frame_store(tmp_path: Path, config: ExtractConfig) -> None:
    from tests.extract_worker.recordings import jpeg_bytes, write_ros1

    src = write_ros1(tmp_path / "drive.bag")
    config = config.model_copy(update={"frame_store": "parquet"})
    out = tmp_path / "out"
    run("camera", src, out, config, topics=["/camera/rear/compressed"])
    index = pq.read_table(out / "camera" / "camera_rear_compressed" / "index.parquet").to_pylist()
    assert index[4]["path"] == "camera_rear_compressed/frames/part-00000.parquet"
    frames = pq.read_table(out / "camera" / index[4]["path"]).to_pylist()
    assert frames[index[4]["part_row"]]["data"] == jpeg_bytes(shade=4)
    assert not list((out / "camera" / "camera_rear_compressed").glob("*.jpg"))


def test_bare_mcap_without_suffix(tmp_path: Path, config: ExtractConfig) -> None:
    from tests.extract_worker.recordings import write_mcap

    src = write_mcap(tmp_path / "drive.mcap").rename(tmp_path / "upload-0001")
    meta = run("metadata", src, tmp_path / "out", config)["metadata"]
    assert meta["format"] == "mcap"
    assert meta["stream_count"] == 9
