"""Blob URLs for --input and --output against Azurite: download, upload, marker last."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.services.azurite import AzuriteBlob
from extract_worker.cli import main
from extract_worker.errors import EXIT_BAD_INPUT, EXIT_OK
from tests.extract_worker.recordings import write_ros1, write_ros2
from tests.extract_worker.support import upload_to_raw

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.azurite


def test_blob_input_and_output(
    tmp_path: Path,
    azurite: AzuriteBlob,
    service: BlobServiceClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upload_to_raw(service, write_ros1(tmp_path / "drive.bag"), "m1/drive.bag")
    src = f"{azurite.blob_endpoint}/raw/m1/drive.bag"
    dst = f"{azurite.blob_endpoint}/extracted/2026/05/04/VIN/m1/ds1"
    argv = [
        "run",
        "--task",
        "gps",
        "--input",
        src,
        "--output",
        dst,
        "--no-limits",
        "--scratch",
        str(tmp_path),
    ]
    assert main(argv) == EXIT_OK
    container = service.get_container_client("extracted")
    names = sorted(b.name for b in container.list_blobs(name_starts_with="2026/05/04/VIN/m1/ds1/"))
    assert names == [
        "2026/05/04/VIN/m1/ds1/gps/_SUCCESS",
        "2026/05/04/VIN/m1/ds1/gps/_manifest.json",
        "2026/05/04/VIN/m1/ds1/gps/gps_fix/data.parquet",
    ]
    manifest = json.loads(
        container.download_blob("2026/05/04/VIN/m1/ds1/gps/_manifest.json").readall()
    )
    assert manifest["input"]["path"] == src
    # The scratch copy is gone once the task ends.
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("extract-")] == []
    capsys.readouterr()
    # A rerun finds the marker and does nothing.
    assert main(argv) == EXIT_OK
    assert "already committed" in capsys.readouterr().err


def test_ros2_bag_prefix_as_input(
    tmp_path: Path, azurite: AzuriteBlob, service: BlobServiceClient
) -> None:
    upload_to_raw(service, write_ros2(tmp_path / "bag", storage="mcap"), "m2/bag")
    out = tmp_path / "out"
    argv = [
        "run", "--task", "metadata", "--input", f"{azurite.blob_endpoint}/raw/m2/bag",
        "--output", str(out), "--no-limits", "--scratch", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == EXIT_OK
    meta = json.loads((out / "metadata" / "metadata.json").read_text())
    assert meta["format"] == "ros2"
    assert meta["stream_count"] == 9


def test_missing_blob_is_bad_input(
    tmp_path: Path, azurite: AzuriteBlob, service: BlobServiceClient
) -> None:
    argv = [
        "run", "--task", "validate", "--input", f"{azurite.blob_endpoint}/raw/nope/x.bag",
        "--output", str(tmp_path / "out"), "--no-limits", "--scratch", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == EXIT_BAD_INPUT


def test_can_task_fetches_its_dbc_from_a_blob_url(
    tmp_path: Path, azurite: AzuriteBlob, service: BlobServiceClient
) -> None:
    """``--dbc`` as the plan passes it (a raw-zone URL) is downloaded and decodes the bus log."""
    from avops.sample_drive.dbc import build_database, can_frames
    from avops.sample_drive.mdf4 import write_mdf4
    from avops.sample_drive.route import build_drive

    drive = build_drive(0)
    database = build_database()
    write_mdf4(tmp_path / "vehicle.mf4", drive, can_frames(drive, database))
    (tmp_path / "vehicle.dbc").write_bytes(database.as_dbc_string().encode("ascii"))
    upload_to_raw(service, tmp_path / "vehicle.mf4", "m2/vehicle.mf4")
    upload_to_raw(service, tmp_path / "vehicle.dbc", "m2/vehicle.dbc")
    argv = [
        "run", "--task", "can",
        "--input", f"{azurite.blob_endpoint}/raw/m2/vehicle.mf4",
        "--output", f"{azurite.blob_endpoint}/extracted/m2/ds1",
        "--dbc", f"{azurite.blob_endpoint}/raw/m2/vehicle.dbc",
        "--no-limits", "--scratch", str(tmp_path / "scratch"),
    ]  # fmt: skip
    (tmp_path / "scratch").mkdir()
    assert main(argv) == EXIT_OK
    container = service.get_container_client("extracted")
    names = {b.name for b in container.list_blobs(name_starts_with="m2/ds1/can/")}
    assert any(name.endswith("/decoded/VehicleDynamics.parquet") for name in names), names
    missing = [*argv[:-2]]
    missing[missing.index("--dbc") + 1] = f"{azurite.blob_endpoint}/raw/m2/none.dbc"
    assert main([*missing, "--force"]) == EXIT_BAD_INPUT
