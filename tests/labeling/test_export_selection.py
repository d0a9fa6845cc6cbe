"""Selection shapes, downsampling, sensor matching, request errors and item chunks."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from dataops.errors import InvalidInputError
from dataops.labeling.exporting.plan import export_datastream_id, match_sensor
from dataops.labeling.exporting.request import Downsampling, FrameFilter, Selection
from dataops.labeling.exporting.selection import FrameDownsampler
from dataops.labeling.exporting.status import parse_export_request
from orchestrators.label_export import item_chunks
from tests.labeling.export_requests import cli_request

MS = 1_000_000


def _keep(rule: Downsampling, frames: list[tuple[str, int]]) -> list[tuple[str, int]]:
    sampler = FrameDownsampler(rule)
    return [(m, t) for m, t in frames if sampler.keep(m, t)]


def test_every_nth_counts_per_measurement_even_when_measurements_interleave() -> None:
    frames = [
        ("a", 0),
        ("b", 0),
        ("a", 100 * MS),
        ("b", 100 * MS),
        ("a", 200 * MS),
        ("a", 300 * MS),
    ]
    kept = _keep(Downsampling(every_nth=2), frames)
    assert kept == [("a", 0), ("b", 0), ("a", 200 * MS)]


def test_min_interval_keeps_frames_at_least_that_far_apart() -> None:
    frames = [("a", t * 100 * MS) for t in range(10)]  # 10 Hz
    kept = _keep(Downsampling(min_interval_ms=250), frames)
    assert [t // MS for _, t in kept] == [0, 300, 600, 900]


def test_every_nth_and_min_interval_combine() -> None:
    frames = [("a", t * 100 * MS) for t in range(10)]
    kept = _keep(Downsampling(every_nth=2, min_interval_ms=350), frames)
    # Candidates 0, 200, 400, 600, 800 ms; of those, at least 350 ms apart.
    assert [t // MS for _, t in kept] == [0, 400, 800]


def test_no_downsampling_keeps_everything() -> None:
    frames = [("a", t) for t in range(5)]
    assert _keep(Downsampling(), frames) == frames


def test_selection_is_exactly_one_kind() -> None:
    search = Selection.model_validate(
        {"frames": {"object": "pedestrian", "from": "2024-05-01T00:00:00Z"}}
    )
    assert isinstance(search.frames, FrameFilter)
    assert search.as_filter() == search.frames
    scene = Selection.model_validate({"scene_type": "hard_brake", "vehicle": "VIN-1"})
    wanted = scene.as_filter()
    assert wanted is not None and (wanted.scene_type, wanted.vehicle) == ("hard_brake", "VIN-1")
    listed = Selection.model_validate({"frames": [{"measurement_id": "m-1", "time_ns": 5}]})
    assert listed.as_filter() is None
    for bad in (
        {},
        {"frames": {"object": "x"}, "scene_type": "stop"},
        {"frames": [{"measurement_id": "m-1", "time_ns": 5}], "vehicle": "VIN-1"},
        {"frames": []},
    ):
        with pytest.raises(ValidationError):
            Selection.model_validate(bad)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"selection": {"scene_type": "x"}, "sensors": ["cam"]}, "body.partner_id"),
        ({"selection": {"scene_type": "x"}, "sensors": [], "partner_id": "p"}, "body.sensors"),
        ({"selection": {}, "sensors": ["cam"], "partner_id": "p"}, "body.selection"),
        (
            {"selection": {"scene_type": "x"}, "sensors": ["cam"], "partner_id": "p", "x": 1},
            "body.x",
        ),
        (
            {
                "selection": {"scene_type": "x"},
                "sensors": ["cam"],
                "partner_id": "p",
                "downsampling": {"every_nth": 0},
            },
            "body.downsampling.every_nth",
        ),
        (
            {"selection": {"scene_type": "x"}, "sensors": ["../cam"], "partner_id": "p"},
            "body.sensors.0",
        ),
        (
            {"selection": {"scene_type": "x"}, "sensors": ["cam"], "partner_id": "a/b"},
            "body.partner_id",
        ),
    ],
)
def test_bad_request_bodies_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_export_request(json.dumps(body).encode())
    assert caught.value.field == field


def test_not_json_is_a_body_error() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_export_request(b"{not json")
    assert caught.value.field == "body"


def test_sensor_names_match_keys_by_last_segment_exactly_or_by_glob() -> None:
    keys = ["ros2/camera/front_raw", "ros1.bag/camera/front", "ros2/camera/front", "r/lidar/top"]
    assert match_sensor("front", keys) == "ros1.bag/camera/front"  # first in sorted order
    assert match_sensor("ros2/camera/front", keys) == "ros2/camera/front"
    assert match_sensor("*/lidar/*", keys) == "r/lidar/top"
    assert match_sensor("rear", keys) is None
    assert match_sensor("ront", keys) is None


def test_export_datastream_ids_are_stable_per_export_and_measurement() -> None:
    first = export_datastream_id("a" * 32, "m-1")
    assert first == export_datastream_id("a" * 32, "m-1")
    assert first != export_datastream_id("b" * 32, "m-1")
    assert first != export_datastream_id("a" * 32, "m-2")


def test_item_chunks_cover_every_item_once() -> None:
    assert item_chunks(0) == []
    assert item_chunks(120, 50) == [(0, 50), (50, 100), (100, 120)]
    assert item_chunks(50, 50) == [(0, 50)]


def test_cli_options_become_a_valid_request() -> None:
    scene = cli_request(scene_type="pedestrian_in_view", vehicle="VIN-1")
    assert scene["selection"] == {"scene_type": "pedestrian_in_view", "vehicle": "VIN-1"}
    assert scene["sensors"] == ["cam_a", "cam_b"]
    search = cli_request(object_class="pedestrian", since="2024-05-01T00:00:00Z")
    assert search["selection"] == {
        "frames": {"object": "pedestrian", "from": "2024-05-01T00:00:00Z"}
    }
    listed = cli_request(frames=["m-1:123", "m-2:456"])
    assert listed["selection"]["frames"][1] == {"measurement_id": "m-2", "time_ns": 456}
    for body in (scene, search, listed):
        request = parse_export_request(json.dumps(body).encode())
        assert request.downsampling.every_nth == 3
