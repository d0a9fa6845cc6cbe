"""Uploads with progress, listing, small reads and writes, against real Azurite."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from azure.core.pipeline.transport import RequestsTransport

from dataops.errors import ConflictError, EtagMismatchError, InvalidInputError
from dataops.paths import Zone
from dataops.storage import BlobTooLargeError, BlobZones
from tests.integration.conftest import TEST_CHUNK_SIZE

pytestmark = pytest.mark.azurite


def _ros2_bag(root: Path) -> dict[str, bytes]:
    """A ROS 2 bag-shaped directory: metadata, a multi-block file, an exact-chunk file."""
    files = {
        "metadata.yaml": b"rosbag2_bagfile_information:\n  version: 5\n",
        "bag_0.mcap": os.urandom(3 * TEST_CHUNK_SIZE + 1234),
        "extra/exact.bin": os.urandom(TEST_CHUNK_SIZE),
        "extra/empty.txt": b"",
    }
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


def test_upload_directory_with_progress(blob_zones: BlobZones, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    files = _ros2_bag(bag)
    seen: list[int] = []

    results = blob_zones.upload_directory(Zone.LANDING, "vin1/up1/bag", bag, progress=seen.append)

    total = sum(len(data) for data in files.values())
    assert seen[-1] == total
    assert seen == sorted(seen)
    assert len(seen) > len(files)  # per block, not only per file
    assert {r.path for r in results} == {f"vin1/up1/bag/{name}" for name in files}
    listed = {info.path: info for info in blob_zones.list_blobs(Zone.LANDING, "vin1/up1")}
    for name, data in files.items():
        info = listed[f"vin1/up1/bag/{name}"]
        assert info.size == len(data)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert info.content_md5 == hashlib.md5(data).digest()
        assert blob_zones.sha256(Zone.LANDING, info.path).sha256 == info.sha256
    assert listed["vin1/up1/bag/metadata.yaml"].content_type == "application/yaml"
    assert listed["vin1/up1/bag/bag_0.mcap"].content_type == "application/octet-stream"


def test_upload_directory_refuses_symlinks_before_uploading(
    blob_zones: BlobZones, tmp_path: Path
) -> None:
    bag = tmp_path / "bag"
    _ros2_bag(bag)
    (bag / "zz_link").symlink_to(tmp_path)

    with pytest.raises(InvalidInputError, match="symlink"):
        blob_zones.upload_directory(Zone.LANDING, "vin1/up2", bag)
    assert list(blob_zones.list_blobs(Zone.LANDING)) == []


def test_upload_without_overwrite_conflicts(blob_zones: BlobZones, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * TEST_CHUNK_SIZE + 1))
    blob_zones.upload_file(Zone.LANDING, "up/big.bin", big, write_sha256=False)

    with pytest.raises(ConflictError):
        blob_zones.upload_file(Zone.LANDING, "up/big.bin", big, overwrite=False)
    small = tmp_path / "small.bin"
    small.write_bytes(b"s")
    blob_zones.upload_file(Zone.LANDING, "up/small.bin", small)
    with pytest.raises(ConflictError):
        blob_zones.upload_file(Zone.LANDING, "up/small.bin", small, overwrite=False)
    assert blob_zones.get_info(Zone.LANDING, "up/big.bin").sha256 is None


def test_list_pages_and_respects_folder_boundaries(blob_zones: BlobZones) -> None:
    names = [f"a/b/{i:02d}.bin" for i in range(7)]
    for index, name in enumerate(names):
        blob_zones.write_bytes(Zone.RAW, name, b"x" * index)
    blob_zones.write_bytes(Zone.RAW, "a/bc/not-mine.bin", b"y")

    listed = list(blob_zones.list_blobs(Zone.RAW, "a/b", page_size=2))

    assert [info.path for info in listed] == names
    assert [info.size for info in listed] == list(range(7))
    assert all(info.etag and info.last_modified for info in listed)
    assert len(list(blob_zones.list_blobs(Zone.RAW))) == 8


def _recorded_methods(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The HTTP methods of the storage requests made from now on, in order."""
    methods: list[str] = []
    original = RequestsTransport.send

    def record(self: RequestsTransport, request: Any, **kwargs: Any) -> Any:
        methods.append(request.method)
        return original(self, request, **kwargs)

    monkeypatch.setattr(RequestsTransport, "send", record)
    return methods


def test_read_with_cap_refuses_before_downloading(
    blob_zones: BlobZones, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob_zones.write_bytes(Zone.LANDING, "up/manifest.json", b"{" + b" " * 5000 + b"}")
    methods = _recorded_methods(monkeypatch)

    with pytest.raises(BlobTooLargeError, match="5002 bytes"):
        blob_zones.read_json(Zone.LANDING, "up/manifest.json", max_bytes=1024)
    assert methods == ["HEAD"]  # properties only; the body was never fetched


def test_capped_read_is_one_request_and_refuses_above_the_cap(
    blob_zones: BlobZones, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One GET per read (no properties request); above the cap it names the blob's size."""
    blob_zones.write_bytes(Zone.LANDING, "up/frame.jpg", b"j" * 3000)
    blob_zones.write_bytes(Zone.LANDING, "up/empty.jpg", b"")
    methods = _recorded_methods(monkeypatch)
    exact = blob_zones.read_capped(Zone.LANDING, "up/frame.jpg", max_bytes=3000)
    assert exact.data == b"j" * 3000
    assert exact.etag == blob_zones.get_info(Zone.LANDING, "up/frame.jpg").etag
    assert methods == ["GET", "HEAD"]  # the read itself was one GET; HEAD is get_info
    assert blob_zones.read_capped(Zone.LANDING, "up/empty.jpg", max_bytes=10).data == b""
    with pytest.raises(BlobTooLargeError, match="3000 bytes, more than the 2999"):
        blob_zones.read_capped(Zone.LANDING, "up/frame.jpg", max_bytes=2999)


def test_json_round_trip_and_conditions(blob_zones: BlobZones) -> None:
    etag = blob_zones.write_json(Zone.CURATED, "x/state.json", {"b": 1, "a": [1, 2]})
    value, read_etag = blob_zones.read_json(Zone.CURATED, "x/state.json", max_bytes=1024)
    assert value == {"a": [1, 2], "b": 1}
    assert read_etag == etag

    new_etag = blob_zones.write_json(Zone.CURATED, "x/state.json", {"v": 2}, etag=etag)
    with pytest.raises(EtagMismatchError):
        blob_zones.write_json(Zone.CURATED, "x/state.json", {"v": 3}, etag=etag)
    with pytest.raises(ConflictError):
        blob_zones.write_json(Zone.CURATED, "x/state.json", {"v": 4}, overwrite=False)
    assert blob_zones.read_json(Zone.CURATED, "x/state.json", max_bytes=1024) == (
        {"v": 2},
        new_etag,
    )


def test_invalid_json_names_the_blob(blob_zones: BlobZones) -> None:
    blob_zones.write_bytes(Zone.LANDING, "up/manifest.json", b"{not json")
    with pytest.raises(InvalidInputError, match=r"landing/up/manifest\.json"):
        blob_zones.read_json(Zone.LANDING, "up/manifest.json", max_bytes=1024)


def test_block_upload_sets_content_md5(blob_zones: BlobZones, tmp_path: Path) -> None:
    local = tmp_path / "f.bin"
    local.write_bytes(os.urandom(2 * TEST_CHUNK_SIZE))
    blob_zones.upload_file(Zone.LANDING, "up/f.bin", local)
    info = blob_zones.get_info(Zone.LANDING, "up/f.bin")
    assert info.content_md5 == hashlib.md5(local.read_bytes()).digest()


def test_upload_of_missing_file_is_invalid_input(blob_zones: BlobZones, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        blob_zones.upload_file(Zone.LANDING, "up/x.bin", tmp_path / "missing.bin")
