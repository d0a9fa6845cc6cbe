"""Issue 8 steps 4 and 5 end to end: ingest -> extract -> synchronize -> enrich -> scenes.

The session's pipeline run (tests/e2e/pipeline.py), on each store backend: the small sample
drive's planted events (truth.json) must come back as scenes within 0.5 s, with at most one false
scene per type; the scenes are in the store and in the curated zone's Delta table, and the frame
index answers "frames with a pedestrian" with exactly the reference frames inside the truth's
pedestrian windows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataops.frames.delta import download_delta_table
from dataops.models import DatastreamType
from dataops.paths import Zone
from dataops.store.protocol import SceneQuery
from devhost.durable.store import RuntimeStatus
from tests.e2e.pipeline import PipelineRun

pytestmark = [
    pytest.mark.azurite,
    # The cosmos run talks to cosmosdb-server's self-signed certificate on purpose.
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
TOLERANCE_NS = 500_000_000
PLANTED = ("hard_brake", "stop", "lane_change", "pedestrian_in_view")


def test_synchronized_datastream_gets_scenes_and_a_frame_index(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    """The planted events come back as scenes, in the store, the Delta tables and the API."""
    run = pipeline_run
    sample_drive = run.drive
    result = {**run.http, "synchronized_id": run.output_of("synchronize")}
    result["enriched_id"] = run.output_of("enrich")
    instance = run.instances["detect_scenes"]
    assert instance.status is RuntimeStatus.COMPLETED, instance.error
    store = run.store()
    measurement_id = run.measurement_id
    datastream = run.completed_datastream(
        DatastreamType.SCENES,
        "detect_scenes",
        [result["synchronized_id"], result["enriched_id"]],
    )
    assert datastream.stats["enriched"] is True
    assert datastream.producer.instance_id == instance.instance_id

    truth = json.loads((sample_drive / "truth.json").read_text())
    # This run's scenes: tests that share the run may add datastreams of their own later.
    found = [
        scene
        for scene in store.query_scenes(SceneQuery(measurement_id=measurement_id, limit=1000)).items
        if scene.datastream_id == datastream.id
    ]
    by_type: dict[str, list[tuple[int, int]]] = {}
    for scene in found:
        span = (int(scene.attributes["start_ns"]), int(scene.attributes["end_ns"]))
        by_type.setdefault(scene.type, []).append(span)
    errors: dict[str, list[tuple[float, float]]] = {}
    for event in truth["events"]:
        spans = by_type.get(event["type"], [])
        matches = [
            (start - event["start_ns"], end - event["end_ns"])
            for start, end in spans
            if abs(start - event["start_ns"]) <= TOLERANCE_NS
            and abs(end - event["end_ns"]) <= TOLERANCE_NS
        ]
        assert len(matches) == 1, (event, spans)
        errors.setdefault(event["type"], []).append((matches[0][0] / 1e9, matches[0][1] / 1e9))
    assert set(errors) == set(PLANTED)
    planted = {kind: sum(e["type"] == kind for e in truth["events"]) for kind in PLANTED}
    for kind, spans in by_type.items():
        # At most one scene per type that is no planted event (types without truth: all false).
        assert len(spans) - planted.get(kind, 0) <= 1, (kind, spans)
    print("scene timing errors (start, end) in s:", errors, {k: len(v) for k, v in by_type.items()})

    # The Delta tables in the curated zone.
    scenes_table = download_delta_table(
        run.zones, Zone.CURATED, datastream.stats["scenes_table"], tmp_path / "cache"
    ).to_pyarrow_table()
    assert sorted(scenes_table.column("scene_id").to_pylist()) == sorted(s.id for s in found)
    frames = download_delta_table(
        run.zones, Zone.CURATED, datastream.stats["frames_table"], tmp_path / "cache"
    ).to_pyarrow_table()
    assert frames.num_rows == 200
    expected = {
        t
        for event in truth["events"]
        if event["type"] == "pedestrian_in_view"
        for t in frames.column("time_ns").to_pylist()
        if event["start_ns"] <= t < event["end_ns"]
    }
    with_pedestrian = {
        t
        for t, classes in zip(
            frames.column("time_ns").to_pylist(),
            frames.column("object_classes").to_pylist(),
            strict=True,
        )
        if "pedestrian" in classes
    }
    assert with_pedestrian == expected
    # GET /api/frames?object=pedestrian: exactly those frames, in time order, over pages.
    api_times = [item["time_ns"] for item in result["pedestrian_frames"]]
    assert api_times == sorted(expected)
    first = result["pedestrian_frames"][0]
    assert first["vehicle_id"] == truth["vehicle_id"]
    assert first["datastream_id"] == datastream.id
    assert any(key.endswith("/camera/camera_front_image_raw_compressed") for key in first["paths"])
    (brake,) = [s for s in found if s.type == "hard_brake"]
    braking_times = [item["time_ns"] for item in result["braking"].json()["items"]]
    assert braking_times[0] == brake.attributes["start_ns"]
    assert braking_times[-1] == brake.attributes["end_ns"]
    assert all(brake.id in item["scene_ids"] for item in result["braking"].json()["items"])
    assert result["bad"].status_code == 400
    assert result["bad"].json()["parameter"] == "limit"
    api_scenes = result["scenes"]
    assert api_scenes.status_code == 200, api_scenes.text
    assert sorted(item["id"] for item in api_scenes.json()["items"]) == sorted(s.id for s in found)
    assert {item["datastream_id"] for item in api_scenes.json()["items"]} == {datastream.id}
    assert [item["id"] for item in result["brakes"].json()["items"]] == [brake.id]
    store.close()
