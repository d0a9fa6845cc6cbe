"""Standard kinds from Foxglove's schemas in protobuf and JSON: the same outputs as from ROS."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from extract_worker.readers.spill_sort import sorted_by_time
from tests.extract_worker.foxglove_recordings import (
    BASE_NS,
    FRAMES,
    POINTS,
    STEP_NS,
    points,
    write_foxglove_sensors,
)
from tests.extract_worker.recordings import IMAGE_H, IMAGE_W, jpeg_bytes
from tests.extract_worker.support import run

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_foxglove_camera(encoding: str, tmp_path: Path, config: ExtractConfig) -> None:
    """foxglove.CompressedImage passes its JPEG through, foxglove.RawImage becomes JPEGs;
    the index carries the message timestamps and frame ids."""
    src = write_foxglove_sensors(tmp_path / "s.mcap", encoding)
    out = tmp_path / "out"
    manifest = run("camera", src, out, config)
    assert {f["stream"] for f in manifest["files"]} == {"/camera/compressed", "/camera/raw"}
    compressed = pq.read_table(out / "camera" / "camera_compressed" / "index.parquet").to_pylist()
    assert [r["header_stamp_ns"] for r in compressed] == [
        BASE_NS + i * STEP_NS for i in range(FRAMES)
    ]
    assert (out / "camera" / compressed[2]["path"]).read_bytes() == jpeg_bytes(shade=2)
    raw = pq.read_table(out / "camera" / "camera_raw" / "index.parquet").to_pylist()
    assert len(raw) == FRAMES
    assert (raw[0]["width"], raw[0]["height"], raw[0]["encoding"]) == (IMAGE_W, IMAGE_H, "rgb8")
    with Image.open(out / "camera" / raw[1]["path"]) as image:
        assert image.size == (IMAGE_W, IMAGE_H)


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_foxglove_point_cloud(encoding: str, tmp_path: Path, config: ExtractConfig) -> None:
    """foxglove.PointCloud lands in the lidar Parquet dataset with every field per point."""
    src = write_foxglove_sensors(tmp_path / "s.mcap", encoding)
    out = tmp_path / "out"
    manifest = run("lidar", src, out, config)
    assert [f["stream"] for f in manifest["files"]] == ["/lidar/points"]
    table = pq.read_table(out / "lidar" / "lidar_points" / "points")
    assert table.num_rows == FRAMES * POINTS
    expected = np.concatenate([points(i) for i in range(FRAMES)])
    assert table.column("x").to_numpy().tolist() == expected[:, 0].tolist()
    assert table.column("intensity").to_numpy().tolist() == expected[:, 3].tolist()
    assert table.schema.field("x").type == "float"


def test_undecodable_channel_is_listed_and_schemaless_json_is_a_table(
    tmp_path: Path, config: ExtractConfig
) -> None:
    """A flatbuffer channel is counted by metadata and named with its reason by the structured
    task; a schemaless JSON channel becomes a table of its JSON text."""
    src = write_foxglove_sensors(tmp_path / "s.mcap", "json")
    out = tmp_path / "out"
    meta = run("metadata", src, out, config)["metadata"]
    assert meta["streams"]["/flat"]["count"] == FRAMES
    assert meta["streams"]["/flat"]["schema_encoding"] == "flatbuffer"
    assert meta["streams"]["/events"]["type"] == "json"

    structured = run("structured", src, out, config)
    assert structured["errors"] == [
        {
            "stream": "/flat",
            "msgtype": "demo.Flat",
            "error": f"{src}: /flat: unknown message type 'demo.Flat' on topic '/flat' "
            "(flatbuffer messages are not decoded (no reflection decoder))",
        }
    ]
    (events,) = [f for f in structured["files"] if f["stream"] == "/events"]
    rows = pq.read_table(out / "structured" / events["path"]).to_pylist()
    assert [json.loads(r["json"])["n"] for r in rows] == list(range(FRAMES))

    report = run("validate", src, out, config)["validation"]
    assert any("/flat" in w and "flatbuffer" in w for w in report["warnings"])


def test_spill_sort_orders_with_runs_on_disk() -> None:
    """Sorting more than the budget spills sorted runs and merges them: same order as an
    in-memory stable sort, ties in input order."""
    rng = np.random.default_rng(7)
    times = rng.integers(0, 50, 2000).tolist()
    items = [(t, k % 3, f"{k}".encode()) for k, t in enumerate(times)]
    got = list(sorted_by_time(iter(items), budget=2048))
    assert got == sorted(items, key=lambda m: m[0])
