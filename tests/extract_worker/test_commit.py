"""Staging and commit: a failure leaves nothing, a crash's leftovers go, logs carry the ids."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from extract_worker.cli import main
from extract_worker.commit import STAGING_DIR, SUCCESS_NAME
from extract_worker.errors import EXIT_BAD_INPUT, EXIT_OK, BadInputError
from extract_worker.extractors import camera
from extract_worker.run import run_local_task
from tests.extract_worker.recordings import FRAMES, write_ros1

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig


def test_failure_mid_stream_commits_nothing(
    tmp_path: Path, config: ExtractConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_ros1(tmp_path / "drive.bag")
    calls = []
    real_add = camera.CameraHandler.add

    def failing_add(self: camera.CameraHandler, time_ns: int, message: object) -> None:
        calls.append(time_ns)
        if len(calls) == 4:  # after some frames were staged
            raise BadInputError("frame 4 is corrupt", path=str(src))
        real_add(self, time_ns, message)

    monkeypatch.setattr(camera.CameraHandler, "add", failing_add)
    out = tmp_path / "out"
    with pytest.raises(BadInputError):
        run_local_task(kind="camera", input_path=src, output=out, config=config)
    assert sorted(p.name for p in out.iterdir()) == []


def test_crash_leftovers_are_removed_and_not_trusted(tmp_path: Path, config: ExtractConfig) -> None:
    src = write_ros1(tmp_path / "drive.bag")
    out = tmp_path / "out"
    # What a killed run leaves: a staging directory and no marker anywhere.
    stale = out / STAGING_DIR / "gps.deadbeef"
    (stale / "gps_fix").mkdir(parents=True)
    (stale / "gps_fix" / "data.parquet").write_bytes(b"half a file")
    manifest = run_local_task(kind="gps", input_path=src, output=out, config=config)
    assert manifest["files"][0]["rows"] == FRAMES
    assert (out / "gps" / SUCCESS_NAME).is_file()
    assert not (out / STAGING_DIR).exists()


def test_logs_are_json_lines_with_the_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_ros1(tmp_path / "drive.bag")
    ids = ["--measurement-id", "m-7", "--datastream-id", "ds-1", "--job-id", "j", "--task-id", "t"]
    argv = ["run", "--task", "imu", "--input", str(src), "--output", str(tmp_path / "out")]
    assert main([*argv, "--no-limits", *ids]) == EXIT_OK
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines
    for line in lines:
        assert (line["measurement_id"], line["datastream_id"], line["task"]) == (
            "m-7",
            "ds-1",
            "imu",
        )
        assert line["job_id"] == "j"
        assert line["task_id"] == "t"
    assert main(["run", "--task", "imu", "--input", str(tmp_path / "none.bag"), "--output",
                 str(tmp_path / "o2"), "--no-limits"]) == EXIT_BAD_INPUT  # fmt: skip


def test_pcd_per_frame(tmp_path: Path, config: ExtractConfig) -> None:
    from pypcd4.pypcd4 import PointCloud

    src = write_ros1(tmp_path / "drive.bag")
    config = config.model_copy(update={"pcd_per_frame": True})
    out = tmp_path / "out"
    run_local_task(kind="lidar", input_path=src, output=out, config=config)
    files = sorted((out / "lidar" / "lidar_top_points" / "pcd").glob("*.pcd"))
    assert len(files) == FRAMES
    cloud = PointCloud.from_path(files[2])
    assert cloud.fields == ("x", "y", "z", "intensity")
    assert cloud.numpy(("intensity",))[0, 0] == 3.0 + 2
