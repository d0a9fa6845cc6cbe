"""Scenes and frame index end to end: ingest -> extract -> synchronize -> enrich -> scenes.

The small sample drive's planted events (truth.json) must come back as scenes within 0.5 s,
with at most one false scene per type; the scenes are in the store and in the curated zone's
Delta table, and the frame index answers "frames with a pedestrian" with exactly the
reference frames inside the truth's pedestrian windows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataops.frames.delta import download_delta_table
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.store.protocol import SceneQuery
from dataops.store.sqlite import SqliteStore
from devhost.batch_runner import BatchRunner
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from tests.e2e.conftest import WRITE_KEY, AppEnv, follow_chain, ingest_sample, run_host

pytestmark = pytest.mark.azurite
TOLERANCE_NS = 500_000_000
PLANTED = ("hard_brake", "stop", "lane_change", "pedestrian_in_view")


def test_synchronized_datastream_gets_scenes_and_a_frame_index(
    app_env: AppEnv, extract_env: BatchRunner, sample_drive: Path, tmp_path: Path
) -> None:
    prefix = "fleet/scenes-1"
    feed = SqliteStore(app_env.sqlite_path)

    async def body(host: DevHost) -> dict[str, Any]:
        output = await ingest_sample(host, app_env.zones, sample_drive, prefix)
        extracted_id = output["extraction"]["datastream_id"]
        # ENRICHED COMPLETED -> detect_scenes, its instance derived from the ENRICHED id.
        sync, enrich, scenes = await follow_chain(
            host, extracted_id, ["synchronize", "enrich", "detect_scenes"]
        )
        synchronized_id = json.loads(sync.output)["datastream_id"]
        enriched_id = json.loads(enrich.output)["datastream_id"]
        # The frame index through the API, 10 frames a page so the continuation is exercised.
        pedestrian_frames: list[dict[str, Any]] = []
        params: dict[str, Any] = {"object": "pedestrian", "limit": 10}
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                page = await http.get(
                    f"{host.base_url}/api/frames",
                    params=params,
                    headers={"x-functions-key": WRITE_KEY},
                )
                assert page.status_code == 200, page.text
                pedestrian_frames.extend(page.json()["items"])
                if page.json()["continuation"] is None:
                    break
                params["continuation"] = page.json()["continuation"]
            braking = await http.get(
                f"{host.base_url}/api/frames",
                params={"scene_type": "hard_brake", "limit": 1000},
                headers={"x-functions-key": WRITE_KEY},
            )
            bad = await http.get(
                f"{host.base_url}/api/frames",
                params={"limit": 100000},
                headers={"x-functions-key": WRITE_KEY},
            )
            # GET /api/scenes answers from the scenes Delta table of the SCENES datastream.
            api_scenes = await http.get(
                f"{host.base_url}/api/scenes",
                params={"measurement": output["measurement_id"], "limit": 1000},
                headers={"x-functions-key": WRITE_KEY},
            )
            api_brakes = await http.get(
                f"{host.base_url}/api/scenes",
                params={"type": "hard_brake", "vehicle": _vehicle(sample_drive)},
                headers={"x-functions-key": WRITE_KEY},
            )
        return {
            "api_scenes": api_scenes,
            "api_brakes": api_brakes,
            "output": output,
            "scenes": scenes,
            "synchronized_id": synchronized_id,
            "enriched_id": enriched_id,
            "pedestrian_frames": pedestrian_frames,
            "braking": braking.json(),
            "bad": bad,
        }

    result = run_host(app_env.options(change_source=feed), body)
    feed.close()
    instance = result["scenes"]
    assert instance.status is RuntimeStatus.COMPLETED, instance.error
    store = app_env.store()
    measurement_id = result["output"]["measurement_id"]
    (datastream,) = store.list_datastreams(measurement_id, DatastreamType.SCENES)
    assert datastream.state is DatastreamState.COMPLETED
    assert datastream.sources == [result["synchronized_id"], result["enriched_id"]]
    assert datastream.stats["enriched"] is True
    assert datastream.zone is Zone.CURATED
    assert datastream.producer.instance_id == instance.instance_id

    truth = json.loads((sample_drive / "truth.json").read_text())
    found = store.query_scenes(SceneQuery(measurement_id=measurement_id, limit=1000)).items
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
        app_env.zones, Zone.CURATED, datastream.stats["scenes_table"], tmp_path / "cache"
    ).to_pyarrow_table()
    assert sorted(scenes_table.column("scene_id").to_pylist()) == sorted(s.id for s in found)
    frames = download_delta_table(
        app_env.zones, Zone.CURATED, datastream.stats["frames_table"], tmp_path / "cache"
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
    braking_times = [item["time_ns"] for item in result["braking"]["items"]]
    assert braking_times[0] == brake.attributes["start_ns"]
    assert braking_times[-1] == brake.attributes["end_ns"]
    assert all(brake.id in item["scene_ids"] for item in result["braking"]["items"])
    assert result["bad"].status_code == 400
    assert result["bad"].json()["parameter"] == "limit"
    api_scenes = result["api_scenes"]
    assert api_scenes.status_code == 200, api_scenes.text
    assert sorted(item["id"] for item in api_scenes.json()["items"]) == sorted(s.id for s in found)
    assert {item["datastream_id"] for item in api_scenes.json()["items"]} == {datastream.id}
    assert [item["id"] for item in result["api_brakes"].json()["items"]] == [brake.id]
    store.close()


def _vehicle(sample_drive: Path) -> str:
    return str(json.loads((sample_drive / "truth.json").read_text())["vehicle_id"])
