"""A local upload directory becomes a valid manifest with streamed hashes and detected formats."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataops.errors import InvalidInputError
from dataops.manifest import parse_manifest
from dataops.manifest_builder import HASH_CHUNK_BYTES, build_manifest, sha256_of_file
from dataops.models import FileFormat

START = datetime(2026, 5, 4, 10, tzinfo=UTC)
END = datetime(2026, 5, 4, 10, 5, tzinfo=UTC)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_formats_are_detected_and_a_ros2_directory_is_one_recording(tmp_path: Path) -> None:
    write(tmp_path / "ros2" / "metadata.yaml", b"rosbag2_bagfile_information: {}\n")
    write(tmp_path / "ros2" / "ros2_0.mcap", b"\x89MCAP0\r\n")
    write(tmp_path / "drive.bag", b"#ROSBAG V2.0\n")
    write(tmp_path / "signals.mf4", b"MDF     4.10")
    write(tmp_path / "radar.tdms", b"TDSm")
    write(tmp_path / "radar.tdms_index", b"TDSh")
    write(tmp_path / "can.dbc", b'VERSION ""')
    write(tmp_path / "notes.txt", b"driver notes")
    write(tmp_path / "manifest.json", b"{}")
    manifest = build_manifest(tmp_path, vehicle_id="V-1", recording_start=START, recording_end=END)
    formats = {f.path: f.format for f in manifest.files}
    assert formats == {
        "can.dbc": FileFormat.DBC,
        "drive.bag": FileFormat.ROSBAG1,
        "notes.txt": FileFormat.OTHER,
        "radar.tdms": FileFormat.TDMS,
        "ros2/metadata.yaml": FileFormat.ROSBAG2,
        "ros2/ros2_0.mcap": FileFormat.ROSBAG2,
        "signals.mf4": FileFormat.MDF4,
    }
    assert set(manifest.recordings()) == {"ros2", "drive.bag", "signals.mf4", "radar.tdms"}
    # What we write must pass the same validation as what vehicles upload.
    assert parse_manifest(manifest.model_dump_json().encode()) == manifest


def test_hashes_stream_and_match_hashlib_across_chunk_boundaries(tmp_path: Path) -> None:
    data = bytes(range(256)) * ((HASH_CHUNK_BYTES * 2 + 12345) // 256)
    write(tmp_path / "big.mcap", data)
    seen: list[int] = []
    assert sha256_of_file(tmp_path / "big.mcap", seen.append) == hashlib.sha256(data).hexdigest()
    assert sum(seen) == len(data)
    assert len(seen) == 3


def test_empty_directory_and_symlinks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no files"):
        build_manifest(tmp_path, vehicle_id="V", recording_start=START, recording_end=END)
    write(tmp_path / "a.bag", b"x")
    (tmp_path / "link.bag").symlink_to(tmp_path / "a.bag")
    with pytest.raises(InvalidInputError, match="symbolic links"):
        build_manifest(tmp_path, vehicle_id="V", recording_start=START, recording_end=END)


def test_unsafe_file_names_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "bad%2e%2ename.bag", b"x")
    with pytest.raises(InvalidInputError, match="percent-escape"):
        build_manifest(tmp_path, vehicle_id="V", recording_start=START, recording_end=END)
