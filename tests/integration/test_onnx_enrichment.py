"""The ONNX detector inside the ``enrich`` step, on Azurite and the SQLite store.

Reference camera frames live in the extracted zone in both frame stores (one file per frame, and
parts of the Parquet frame store); the model is a tiny red-box detector built with onnx.helper.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from activities import enrichment as enrichment_activities
from activities import runtime
from dataops.enrichment.camera_frames import iter_frames
from dataops.enrichment.config import DetectorConfig
from dataops.enrichment.onnx_detector import load_detector
from dataops.enrichment.steps import fail_enrichment, prepare_enrichment, run_enrichment
from dataops.errors import InvalidInputError
from dataops.models import DatastreamState, DatastreamType, FileRecord
from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones
from dataops.store.sqlite import SqliteStore
from devhost.services.azurite import AzuriteBlob
from tests.store_seed import PREFIX, add_measurement, completed, derived
from tests.unit.test_onnx_models import red_box_model

pytestmark = pytest.mark.azurite

CAMERA = f"{PREFIX}/ext-1/drive/camera/front"
RED_BGR = (40, 60, 200)


@pytest.fixture
def zones(azurite: AzuriteBlob) -> Iterator[BlobZones]:
    """Zones on containers of this test alone."""
    built = BlobZones(
        ConnectionStringZones(
            azurite.connection_string, container_prefix=f"t{uuid.uuid4().hex[:12]}-"
        )
    )
    built.ensure_containers()
    yield built
    built.close()


def _ns(second: int) -> int:
    return int(datetime(2026, 5, 4, 8, 0, second, tzinfo=UTC).timestamp()) * 1_000_000_000


def _picture(red: bool) -> np.ndarray:
    image = np.full((180, 320, 3), 90, np.uint8)
    if red:
        image[40:100, 100:180] = RED_BGR  # rows 40..99, columns 100..179
    return image


def _encoded(image: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return bytes(data.tobytes())


def _write_frames(zones: BlobZones, red: list[bool]) -> tuple[list[str | None], list[int]]:
    """Frames 0-2 in a frame-store part (row groups of 2, JPEG), the rest one PNG file each."""
    part = f"{CAMERA}/frames/part-00000.parquet"
    stored = [_encoded(_picture(r), ".jpg") for r in red[:3]]
    table = pa.table(
        {
            "time_ns": pa.array([_ns(s) for s in range(3)], pa.int64()),
            "data": pa.array(stored, pa.large_binary()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=2)
    zones.write_bytes(Zone.EXTRACTED, part, sink.getvalue())
    paths: list[str | None] = [part] * 3
    rows = [0, 1, 2]
    for number, is_red in enumerate(red[3:], start=3):
        path = f"{CAMERA}/{number:08d}_{_ns(number)}.png"
        zones.write_bytes(Zone.EXTRACTED, path, _encoded(_picture(is_red), ".png"))
        paths.append(path)
        rows.append(number)
    return paths, rows


def test_frames_stream_from_both_frame_stores_in_order(zones: BlobZones) -> None:
    paths, rows = _write_frames(zones, [True, False, True, True, False])
    paths.append(None)  # a reference frame without a picture
    rows.append(0)
    picked = np.array([0, 2, 3, 5], np.int64)
    frames = list(iter_frames(zones, paths, np.array(rows, np.int64), picked, max_bytes=1 << 20))
    assert [f.frame for f in frames] == [0, 2, 3]
    assert frames[0].source == f"extracted/{CAMERA}/frames/part-00000.parquet"
    decoded = [cv2.imdecode(np.frombuffer(f.data, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    # Frame 2 is in the part's second row group; frame 3 is a PNG, bit exact.
    assert decoded[1][70, 140].tolist() == pytest.approx(list(RED_BGR), abs=8)
    assert np.array_equal(decoded[2], _picture(True))
    with pytest.raises(InvalidInputError, match="row 7 is outside"):
        list(iter_frames(zones, paths, np.array([7] * 6, np.int64), picked, max_bytes=1 << 20))


def test_the_model_loads_from_a_zone_or_a_file_next_to_the_config(
    zones: BlobZones, tmp_path: Path
) -> None:
    model = red_box_model(height=160, width=160, layout="yolo")
    zones.write_bytes(Zone.CURATED, "models/red.onnx", model)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "red.onnx").write_bytes(model)
    settings: dict[str, Any] = {
        "layout": "yolo",
        "class_names": ["red_thing"],
        "input_width": 160,
        "input_height": 160,
    }
    from_zone = load_detector(
        zones,
        DetectorConfig(model="models/red.onnx", model_zone=Zone.CURATED, **settings),
        config_dir=tmp_path,
        max_bytes=1 << 20,
    )
    from_file = load_detector(
        zones,
        DetectorConfig(model="models/red.onnx", **settings),
        config_dir=tmp_path,
        max_bytes=1 << 20,
    )
    assert from_zone.sha256 == from_file.sha256 == hashlib.sha256(model).hexdigest()
    assert from_zone.info()["model"] == "curated/models/red.onnx"
    assert from_file.info()["model"] == str(tmp_path / "models" / "red.onnx")
    missing = DetectorConfig(model="models/none.onnx", model_zone=Zone.CURATED, **settings)
    with pytest.raises(InvalidInputError, match="cannot read the ONNX model") as err:
        load_detector(zones, missing, config_dir=tmp_path, max_bytes=1 << 20)
    assert err.value.source == "curated/models/none.onnx"
    assert err.value.field == "objects.detector.model"
    with pytest.raises(InvalidInputError, match="more than the 100 allowed") as err:
        load_detector(
            zones,
            DetectorConfig(model="models/red.onnx", **settings),
            config_dir=tmp_path,
            max_bytes=100,
        )
    assert err.value.source == str(tmp_path / "models" / "red.onnx")


# ----------------------------------------------------------------------------- the step


def _store_with_synchronized(tmp_path: Path, zones: BlobZones, red: list[bool]) -> SqliteStore:
    """A measurement whose SYNCHRONIZED datastream references the written camera frames."""
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    add_measurement(store, seconds=10)
    paths, rows = _write_frames(zones, red)
    frames = pa.table(
        {
            "frame": pa.array(range(len(red)), pa.int64()),
            "time_ns": pa.array([_ns(s) for s in range(len(red))], pa.int64()),
            "reference.path": pa.array(paths, pa.string()),
            "reference.row": pa.array(rows, pa.int64()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(frames, sink)
    path = f"{PREFIX}/sync-1/synchronized.parquet"
    zones.write_bytes(Zone.CURATED, path, sink.getvalue())
    completed(
        store,
        derived("sync-1", DatastreamType.SYNCHRONIZED, "synchronize"),
        [FileRecord(path=path, format="parquet", size=len(sink.getvalue()))],
    )
    prepare_enrichment(store, source_datastream_id="sync-1", datastream_id="enr-1", instance_id="i")
    return store


def _config(tmp_path: Path, model: bytes, **detector: Any) -> Path:
    """An enrichment config whose detector model sits in models/ next to it."""
    folder = tmp_path / "config"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "red.onnx").write_bytes(model)
    settings = {
        "model": "models/red.onnx",
        "layout": "boxes_scores_labels",
        "class_names": ["red_thing"],
        "input_width": 160,
        "input_height": 160,
        "batch_size": 2,
        **detector,
    }
    path = folder / "enrichment.json"
    path.write_text(
        json.dumps({"weather": {"provider": "none"}, "objects": {"detector": settings}})
    )
    return path


def test_detector_objects_land_in_the_enriched_table_with_their_source(
    zones: BlobZones, tmp_path: Path
) -> None:
    red = [True, True, True, False, True, True]
    store = _store_with_synchronized(tmp_path, zones, red)
    model = red_box_model(height=160, width=160, layout="boxes_scores_labels")
    config = _config(tmp_path, model, frame_stride=2)

    result = run_enrichment(zones, store, datastream_id="enr-1", config_path=config)
    assert result == {"datastream_id": "enr-1", "rows": 6, "skipped": None}
    enriched = store.get_datastream("enr-1")
    assert enriched.state is DatastreamState.COMPLETED
    detector = enriched.stats["providers"]["detector"]
    assert detector["name"] == "onnx-detector"
    assert detector["model_sha256"] == hashlib.sha256(model).hexdigest()
    assert detector["onnxruntime"] == ort.__version__
    assert detector["model"] == str(tmp_path / "config" / "models" / "red.onnx")
    # Stride 2: frames 0, 2, 4 run (part row 0, part row 2 in the second row group, a PNG).
    assert (detector["frames"], detector["objects"]) == (3, 3)
    assert enriched.stats["providers"]["objects"]["detector"] == "onnx-detector"

    blob = zones.read_bytes(Zone.CURATED, f"{PREFIX}/enr-1/enriched.parquet", max_bytes=1 << 20)
    table = pq.read_table(io.BytesIO(blob.data))
    assert table.column("object_count").to_pylist() == [1, None, 1, None, 1, None]
    assert table.column("object_classes").to_pylist() == [
        ["red_thing"],
        None,
        ["red_thing"],
        None,
        ["red_thing"],
        None,
    ]
    objects = table.column("objects").to_pylist()
    assert [o is None for o in objects] == [False, True, False, True, False, True]
    for found in (objects[0], objects[2], objects[4]):
        assert found is not None and len(found) == 1
        item = found[0]
        assert (item["source"], item["class"], item["score"]) == ("detector", "red_thing", 1.0)
        # Letterbox 320x180 -> 160x90 (scale 0.5): one input pixel is two image pixels.
        box = [item["x_min"], item["y_min"], item["x_max"], item["y_max"]]
        assert box == pytest.approx([100, 40, 180, 100], abs=2.01)
    store.close()


def test_a_bad_model_fails_the_step_naming_the_file_and_field_and_writes_nothing(
    zones: BlobZones, tmp_path: Path
) -> None:
    store = _store_with_synchronized(tmp_path, zones, [True, False, True])
    # A yolo export configured as boxes_scores_labels: one output where three are needed.
    config = _config(tmp_path, red_box_model(height=160, width=160, layout="yolo"))
    with pytest.raises(InvalidInputError, match="needs 3 outputs") as err:
        run_enrichment(zones, store, datastream_id="enr-1", config_path=config)
    assert err.value.source == str(tmp_path / "config" / "models" / "red.onnx")
    assert err.value.field == "objects.detector.layout"
    # The orchestrator's fail activity: FAILED with that reason, and no output anywhere.
    fail_enrichment(store, datastream_id="enr-1", reason=str(err.value))
    failed = store.get_datastream("enr-1")
    assert failed.state is DatastreamState.FAILED
    assert failed.state_reason is not None and "red.onnx" in failed.state_reason
    assert "objects.detector.layout" in failed.state_reason
    assert failed.file_count == 0
    assert not list(zones.list_blobs(Zone.CURATED, f"{PREFIX}/enr-1"))
    store.close()


def test_the_enrich_activity_runs_the_config_that_avops_enrichment_config_names(
    storage_account: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app's own zones (no test prefix, an account of this test): the activity builds them
    # from settings.
    zones = BlobZones(ConnectionStringZones(storage_account))
    zones.ensure_containers()
    _store_with_synchronized(tmp_path, zones, [True, False, True]).close()
    config = _config(tmp_path, red_box_model(height=160, width=160, layout="boxes_scores_labels"))
    monkeypatch.delenv("AVOPS_STORAGE_ACCOUNT_URLS", raising=False)
    monkeypatch.setenv("AVOPS_STORAGE_CONNECTION_STRING", storage_account)
    monkeypatch.setenv("AVOPS_STORE_BACKEND", "sqlite")
    monkeypatch.setenv("AVOPS_SQLITE_PATH", str(tmp_path / "metadata.sqlite3"))
    monkeypatch.setenv("AVOPS_ENRICHMENT_CONFIG", str(config))
    runtime.reset()
    try:
        result = enrichment_activities.run({"datastream_id": "enr-1"})
        enriched = runtime.metadata_store().get_datastream("enr-1")
    finally:
        runtime.reset()
        zones.close()
    assert result["datastream_id"] == "enr-1"
    detector = enriched.stats["providers"]["detector"]
    assert detector["model"] == str(tmp_path / "config" / "models" / "red.onnx")
    assert detector["objects"] == 2  # the two red frames
