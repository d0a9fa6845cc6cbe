"""Issue 8 step 3 end to end: ingest -> extract -> synchronize -> change feed -> ``enrich``.

The session's pipeline run (tests/e2e/pipeline.py) on each store backend: the SYNCHRONIZED
datastream's COMPLETED change starts ``enrich``, which reads the drive's own ``weather.csv`` and
``roads.geojson`` from the RAW zone.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dataops.enrichment.steps import prepare_enrichment, run_enrichment
from dataops.frames.delta import download_delta_table
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.scenes.steps import prepare_scene_detection, run_scene_detection
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from tests.e2e.pipeline import PipelineRun
from tests.unit.test_onnx_models import red_box_enrichment_config

pytestmark = [
    pytest.mark.azurite,
    # The cosmos run talks to cosmosdb-server's self-signed certificate on purpose.
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]


def test_synchronized_datastream_is_enriched_from_the_change_feed(
    pipeline_run: PipelineRun,
) -> None:
    """Weather, roads, sun and objects per frame of what the change feed synchronized."""
    run = pipeline_run
    sample_drive = run.drive
    synchronized_id = run.output_of("synchronize")
    store = run.store()
    datastream = run.completed_datastream(DatastreamType.ENRICHED, "enrich", [synchronized_id])
    stats = datastream.stats
    synchronized = store.get_datastream(synchronized_id)
    assert stats["rows"] == synchronized.stats["rows"] == 200, stats
    providers = stats["providers"]
    assert providers["weather"]["name"] == "offline-table"
    assert providers["weather"]["version"] == "1"
    assert providers["map"]["name"] == "geojson-grid" and providers["map"]["roads"] == 3
    assert providers["h3"]["resolution"] == 9
    assert providers["sun"] == {"name": "noaa-solar", "version": "1"}
    assert providers["objects"]["sensor"] == "ros2_drive/structured/perception_detections"
    assert providers["objects"]["detector"] is None

    files = store.list_files(datastream.id).items
    assert [f.path for f in files] == [f"{datastream.path}/enriched.parquet"]
    blob = run.zones.read_bytes(Zone.CURATED, files[0].path, max_bytes=64 << 20)
    table = pq.read_table(io.BytesIO(blob.data))
    sync_files = store.list_files(synchronized.id).items
    sync_blob = run.zones.read_bytes(Zone.CURATED, sync_files[0].path, max_bytes=64 << 20)
    sync_table = pq.read_table(io.BytesIO(sync_blob.data), columns=["time_ns"])
    times = table.column("time_ns").to_numpy()
    assert np.array_equal(times, sync_table.column("time_ns").to_numpy())

    truth = json.loads((sample_drive / "truth.json").read_text())
    start_ns = truth["events"][0]["start_ns"] - round(truth["events"][0]["start_s"] * 1e9)
    drive_s = (times - start_ns) / 1e9
    # Rain: the route's station reports rain in the rows at 20 s and 30 s (nearest row wins).
    raining = np.asarray(table.column("is_raining").to_pylist())
    inside = (drive_s > 15.5) & (drive_s < 34.5)
    outside = (drive_s < 14.5) | (drive_s > 35.5)
    assert raining[inside].all() and not raining[outside].any()
    assert stats["shares"]["rain"] > 0.4
    # Roads: the route is a primary road, matched on (nearly) every frame.
    assert stats["shares"]["road_match"] >= 0.95
    road_class = table.column("road_class").to_pylist()
    assert road_class.count("primary") >= 180
    assert set(table.column("country").to_pylist()) == {"SE"}
    # Daylight: a May morning in Gothenburg, the sun some 35° up.
    sun = table.column("sun_elevation_deg").to_numpy()
    assert np.all((sun > 30) & (sun < 40)) and stats["shares"]["night"] == 0.0
    assert table.column("h3_cell").null_count == 0
    # Objects: "pedestrian" in the frames inside each pedestrian window, none outside them.
    classes = table.column("object_classes").to_pylist()
    windows = [
        (e["start_ns"], e["end_ns"]) for e in truth["events"] if e["type"] == "pedestrian_in_view"
    ]
    for start, end in windows:
        inner = (times >= start + 200_000_000) & (times < end - 200_000_000)
        assert inner.sum() >= 5
        assert all("pedestrian" in (classes[i] or []) for i in np.flatnonzero(inner))
    in_any = np.zeros(times.size, bool)
    for start, end in windows:
        in_any |= (times >= start - 200_000_000) & (times < end + 200_000_000)
    assert all(not classes[i] for i in np.flatnonzero(~in_any))
    store.close()


@pytest.mark.parametrize("pipeline_run", ["sqlite"], indirect=True)
def test_an_onnx_detector_enriches_what_devhost_synchronized(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    """The run's synchronized drive once more, in process, with an ONNX detector configured.

    One devhost pipeline serves both tests, so the suite stays fast; the datastreams this test
    adds (enr-det, scenes-det) are not in the run's snapshot the other tests read.
    """
    store = pipeline_run.store()
    try:
        _enrich_with_the_red_box_detector(
            pipeline_run.zones,
            store,
            pipeline_run.output_of("synchronize"),
            pipeline_run.drive,
            tmp_path,
        )
    finally:
        store.close()


def _enrich_with_the_red_box_detector(
    zones: BlobZones,
    store: MetadataStore,
    synchronized_id: str,
    sample_drive: Path,
    tmp_path: Path,
) -> None:
    """The small sample's pictures through a configured ONNX detector (a red-box model: the
    sample paints its pedestrians red), in process on what devhost synchronized; then
    detect_scenes on that ENRICHED datastream, whose frame index must carry the class."""
    config_path = red_box_enrichment_config(tmp_path / "config", frame_stride=2)
    model = tmp_path / "config" / "red.onnx"
    prepare_enrichment(
        store, source_datastream_id=synchronized_id, datastream_id="enr-det", instance_id="t"
    )
    run_enrichment(zones, store, datastream_id="enr-det", config_path=config_path)
    enriched = store.get_datastream("enr-det")
    assert enriched.state is DatastreamState.COMPLETED
    detector = enriched.stats["providers"]["detector"]
    assert detector["frames"] == 100  # 200 reference frames, every 2nd
    assert detector["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()

    blob = zones.read_bytes(Zone.CURATED, f"{enriched.path}/enriched.parquet", max_bytes=64 << 20)
    table = pq.read_table(io.BytesIO(blob.data))
    times = table.column("time_ns").to_numpy()
    objects = table.column("objects").to_pylist()
    boxes = {
        i: [o for o in found if o["source"] == "detector"]
        for i, found in enumerate(objects)
        if found is not None
    }
    hits = {i for i, found in boxes.items() if found}
    truth = json.loads((sample_drive / "truth.json").read_text())
    windows = [
        (e["start_ns"], e["end_ns"]) for e in truth["events"] if e["type"] == "pedestrian_in_view"
    ]
    in_any = np.zeros(times.size, bool)
    for start, end in windows:
        in_any |= (times >= start - 200_000_000) & (times < end + 200_000_000)
        inner = (times >= start + 500_000_000) & (times < end - 500_000_000)
        run = [i for i in np.flatnonzero(inner) if i % 2 == 0]
        assert run and all(i in hits for i in run), (start, end)
    # Red boxes only where pedestrians are; the perception topic's own "pedestrian" stays next
    # to them, told apart by its source. With one pedestrian in view, the detector's box (through
    # JPEG, letterbox and back) is the box the generator drew. The reference camera is the ROS 1
    # logger's (320x180), the perception boxes are in the ROS 2 camera's pixels (640x360, same
    # view): halved and without the head, the centres agree within 3 px, and boxes 8 px wide or
    # more overlap with IoU > 0.6 (smaller ones are a few pixels: one pixel of JPEG edge moves
    # their IoU a lot).
    assert all(in_any[i] for i in hits)
    compared = large = 0
    for i in hits:
        seen = [o for o in objects[i] if o["source"] == "perception"]
        if len(seen) == 1 and len(boxes[i]) == 1 and seen[0]["x_min"] is not None:
            halved = {k: seen[0][k] / 2 for k in ("x_min", "y_min", "x_max", "y_max")}
            # The generator paints the top fifth (the head) dark: only the rest is red.
            halved["y_min"] += (halved["y_max"] - halved["y_min"]) / 5
            found = boxes[i][0]
            for low, high in (("x_min", "x_max"), ("y_min", "y_max")):
                centre = (halved[low] + halved[high]) / 2
                assert abs(centre - (found[low] + found[high]) / 2) <= 3, (halved, found)
            compared += 1
            if halved["x_max"] - halved["x_min"] >= 8:
                assert _iou(halved, found) > 0.6, (halved, found)
                large += 1
    assert compared >= 5 and large >= 2, (compared, large)
    classes = table.column("object_classes").to_pylist()
    assert all({"red_box", "pedestrian"} <= set(classes[i]) for i in hits if i % 2 == 0)

    # detect_scenes on this ENRICHED datastream: the frame index carries the detector's class.
    prepare_scene_detection(
        store, source_datastream_id="enr-det", datastream_id="scenes-det", instance_id="t"
    )
    run_scene_detection(zones, store, datastream_id="scenes-det")
    scenes = store.get_datastream("scenes-det")
    index = download_delta_table(
        zones, Zone.CURATED, scenes.stats["frames_table"], tmp_path / "cache"
    ).to_pyarrow_table()
    indexed = dict(
        zip(
            index.column("time_ns").to_pylist(),
            index.column("object_classes").to_pylist(),
            strict=True,
        )
    )
    assert {t for t, c in indexed.items() if "red_box" in (c or [])} == {
        int(times[i]) for i in hits
    }


def _iou(a: dict[str, float], b: dict[str, float]) -> float:
    width = min(a["x_max"], b["x_max"]) - max(a["x_min"], b["x_min"])
    height = min(a["y_max"], b["y_max"]) - max(a["y_min"], b["y_min"])
    inter = max(width, 0.0) * max(height, 0.0)
    area = (a["x_max"] - a["x_min"]) * (a["y_max"] - a["y_min"])
    area += (b["x_max"] - b["x_min"]) * (b["y_max"] - b["y_min"])
    return inter / (area - inter)
