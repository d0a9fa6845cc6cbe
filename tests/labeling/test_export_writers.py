"""COCO and OpenLABEL files of a package, from hand-made plans."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from vcd import core

from dataops.errors import InvalidInputError
from dataops.labeling.exporting.coco import PRELABEL_FLAG, coco_document
from dataops.labeling.exporting.openlabel import check_openlabel, openlabel_document
from dataops.labeling.exporting.plan import ExportPlan, PreLabel
from tests.labeling.plans import T0_NS, make_plan, plan_item

PEDESTRIAN = PreLabel(
    category="pedestrian", bbox=[100.0, 50.0, 20.0, 60.0], score=0.9, track_id="p1"
)
CAR = PreLabel(category="car", bbox=[300.0, 200.0, 80.0, 40.0], score=None)


def _plan() -> ExportPlan:
    return make_plan(
        [
            plan_item(1, frame=0, prelabels=[PEDESTRIAN, CAR]),
            plan_item(2, frame=0, sensor="cam_rear"),
            plan_item(3, frame=1, prelabels=[PEDESTRIAN]),
        ]
    )


def test_coco_images_are_the_items_and_prelabels_are_flagged_annotations() -> None:
    document = coco_document(_plan(), created_at=datetime(2024, 5, 2, tzinfo=UTC))
    assert [image["id"] for image in document["images"]] == [1, 2, 3]
    assert document["images"][0]["file_name"] == "images/cam_front/1.jpg"
    assert (document["images"][0]["width"], document["images"][0]["height"]) == (640, 360)
    assert document["categories"] == [
        {"id": 1, "name": "car", "supercategory": "object"},
        {"id": 2, "name": "pedestrian", "supercategory": "object"},
    ]
    annotations = document["annotations"]
    assert [(a["id"], a["image_id"], a["category_id"]) for a in annotations] == [
        (1, 1, 2),
        (2, 1, 1),
        (3, 3, 2),
    ]
    assert all(a[PRELABEL_FLAG] is True for a in annotations)
    assert annotations[0]["bbox"] == [100.0, 50.0, 20.0, 60.0]
    assert annotations[0]["area"] == 1200.0
    assert annotations[0]["attributes"] == {"score": 0.9, "track_id": "p1"}


def test_openlabel_has_a_frame_per_reference_frame_a_stream_per_sensor_and_boxes() -> None:
    document = openlabel_document(_plan())
    check_openlabel(document)  # valid against vcd's OpenLABEL 1.0 schema
    root = document["openlabel"]
    assert root["metadata"]["schema_version"] == "1.0.0"
    assert set(root["streams"]) == {"cam_front", "cam_rear"}
    assert root["streams"]["cam_front"]["type"] == "camera"
    assert sorted(int(f) for f in root["frames"]) == [0, 1]
    first = root["frames"]["0"]["frame_properties"]
    assert first["timestamp"] == T0_NS / 1e9
    assert first["avops_time_ns"] == T0_NS
    assert len(root["objects"]) == 3
    assert {o["type"] for o in root["objects"].values()} == {"pedestrian", "car"}
    # The loaded document is usable by vcd itself.
    loaded = core.OpenLABEL()
    loaded.load_from_string(json.dumps(document))
    assert loaded.get_num_objects() == 3
    boxes = [
        data
        for frame in root["frames"].values()
        for obj in frame.get("objects", {}).values()
        for data in obj["object_data"]["bbox"]
    ]
    # OpenLABEL boxes are centre-based: COCO [100, 50, 20, 60] -> [110, 80, 20, 60].
    assert [110.0, 80.0, 20.0, 60.0] in [box["val"] for box in boxes]
    assert all(box["coordinate_system"] == "cam_front" for box in boxes)


@pytest.mark.parametrize(
    ("breaks", "field"),
    [
        (lambda root: root["metadata"].pop("schema_version"), "openlabel/metadata"),
        (lambda root: root["frames"]["0"].update(bogus=1), "openlabel/frames/0"),
        (lambda root: root["streams"]["cam_front"].update(type="sonar"), "openlabel/streams"),
    ],
)
def test_a_broken_openlabel_document_is_caught_naming_where(
    breaks: Callable[[dict[str, Any]], object], field: str
) -> None:
    document = copy.deepcopy(openlabel_document(_plan()))
    breaks(document["openlabel"])
    with pytest.raises(InvalidInputError) as caught:
        check_openlabel(document)
    assert caught.value.source == "openlabel.json"
    assert caught.value.field is not None and caught.value.field.startswith(field)
