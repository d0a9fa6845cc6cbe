"""``avops upload``/``demo``: files land under the prefix, manifest last, changed files refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataops.errors import InvalidInputError
from dataops.manifest import parse_manifest
from dataops.manifest_builder import build_manifest
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.uploader import upload_measurement

pytestmark = pytest.mark.azurite
START = datetime(2026, 5, 4, 10, tzinfo=UTC)


def drive(tmp_path: Path) -> Path:
    root = tmp_path / "drive"
    (root / "ros2").mkdir(parents=True)
    (root / "ros2" / "metadata.yaml").write_bytes(b"rosbag2_bagfile_information: {}\n")
    (root / "ros2" / "ros2_0.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 70000)
    (root / "drive.bag").write_bytes(b"#ROSBAG V2.0\n" + b"\x07" * 3000)
    return root


def test_upload_writes_every_file_and_a_manifest_that_validates(
    blob_zones: BlobZones, tmp_path: Path
) -> None:
    root = drive(tmp_path)
    manifest = build_manifest(root, vehicle_id="V-9", recording_start=START, recording_end=START)
    seen: list[int] = []
    summary = upload_measurement(
        blob_zones, root, manifest, upload_prefix="V-9/1", progress=seen.append
    )
    listed = {info.path: info for info in blob_zones.list_blobs(Zone.LANDING, "V-9/1")}
    assert set(listed) == {
        "V-9/1/ros2/metadata.yaml",
        "V-9/1/ros2/ros2_0.mcap",
        "V-9/1/drive.bag",
        "V-9/1/manifest.json",
    }
    # The manifest is the commit marker: it is written after every file it lists.
    assert all(
        listed["V-9/1/manifest.json"].last_modified >= info.last_modified
        for info in listed.values()
    )
    stored = blob_zones.read_bytes(Zone.LANDING, "V-9/1/manifest.json", max_bytes=65536)
    assert parse_manifest(stored.data) == manifest
    assert summary.bytes == sum(f.size for f in manifest.files)
    assert seen[-1] == summary.bytes


def test_a_file_changed_after_the_manifest_is_not_uploaded(
    blob_zones: BlobZones, tmp_path: Path
) -> None:
    root = drive(tmp_path)
    manifest = build_manifest(root, vehicle_id="V-9", recording_start=START, recording_end=START)
    (root / "drive.bag").write_bytes(b"#ROSBAG V2.0\n shorter")
    with pytest.raises(InvalidInputError, match=r"drive\.bag"):
        upload_measurement(blob_zones, root, manifest, upload_prefix="V-9/2")
    assert list(blob_zones.list_blobs(Zone.LANDING, "V-9/2")) == []
