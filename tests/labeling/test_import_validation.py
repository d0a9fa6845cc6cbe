"""Label file validation (COCO and OpenLABEL) against a package: every error names file and path.

The helpers here also build the synthetic export the import integration tests use.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import vcd.core as vcd_core
import vcd.types as vcd_types

from dataops.labeling.importing.labels import check_label_file, detect_format
from dataops.labeling.package import PackageItem, PackageManifest
from dataops.labeling.report import MAX_ERRORS, LabelFormat
from dataops.labeling.validation.common import PackageIndex

T0_NS = 1_714_550_400_000_000_000
CATEGORIES = ["car", "pedestrian", "cyclist"]
COCO_NAME = "round-1/coco.json"
OPENLABEL_NAME = "round-1/openlabel.json"


def make_package(
    *,
    export_id: str | None = None,
    measurements: tuple[str, ...] = ("m-1", "m-2"),
    export_datastreams: dict[str, str] | None = None,
) -> PackageManifest:
    """Items 1-3 from the first measurement, 4 from the second; frame 1 has two cameras."""
    export_datastreams = export_datastreams or {m: f"ds-export-{m}" for m in measurements}
    layout = [
        (1, 0, "cam_front", measurements[0]),
        (2, 1, "cam_front", measurements[0]),
        (3, 1, "cam_left", measurements[0]),
        (4, 2, "cam_front", measurements[-1]),
    ]
    items = [
        PackageItem(
            item_id=item_id,
            openlabel_frame=frame,
            sensor=sensor,
            file_name=f"images/{sensor}/{item_id}.jpg",
            width=640,
            height=480,
            vehicle_id="VIN-1",
            measurement_id=measurement,
            frames_datastream_id=f"ds-scenes-{measurement}",
            frame=10 + item_id,
            time_ns=T0_NS + item_id * 100_000_000,
            source_datastream_id=f"ds-extracted-{measurement}",
            source_path=f"extracted/{measurement}/{sensor}/{item_id}.jpg",
            export_datastream_id=export_datastreams[measurement],
        )
        for item_id, frame, sensor, measurement in layout
    ]
    return PackageManifest(
        export_id=export_id or uuid.uuid4().hex,
        partner_id="partner-a",
        created_at=datetime(2026, 11, 28, tzinfo=UTC),
        selection={"scene_type": "pedestrian"},
        sensors=["cam_front", "cam_left"],
        categories=CATEGORIES,
        items=items,
    )


def coco_document() -> dict[str, Any]:
    """A valid COCO file: two boxes on item 1, one on item 4, categories renumbered."""
    return {
        "info": {"description": "partner round 1"},
        "images": [
            {"id": 1, "width": 640, "height": 480, "file_name": "images/cam_front/1.jpg"},
            {"id": 4, "width": 640, "height": 480, "file_name": "images/cam_front/4.jpg"},
        ],
        "categories": [
            {"id": 10, "name": "pedestrian", "supercategory": "person"},
            {"id": 20, "name": "car"},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 10, "bbox": [100, 50, 20, 40], "iscrowd": 0},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 20,
                "bbox": [0, 0, 640, 480],
                "segmentation": [[0, 0, 640, 0, 640, 480]],
                "avops_prelabel": True,  # a pre-label from the export, kept by the partner
                "attributes": {"occluded": False},
            },
            {"id": 3, "image_id": 4, "category_id": 10, "bbox": [300.5, 200, 10, 30]},
        ],
    }


def openlabel_document() -> dict[str, Any]:
    """A valid OpenLABEL file written with vcd: a pedestrian in frames 0 and 1 (cam_front)."""
    label = vcd_core.VCD()
    for sensor in ("cam_front", "cam_left"):
        label.add_stream(sensor, "", "", vcd_core.StreamType.camera)
        label.add_coordinate_system(
            sensor, cs_type=vcd_types.CoordinateSystemType.sensor_cs, parent_name=""
        )
    uid = label.add_object("ped-1", "pedestrian", frame_value=(0, 1))
    for frame, centre_x in ((0, 110.0), (1, 120.0)):
        label.add_object_data(
            uid,
            vcd_types.bbox("box", [centre_x, 70.0, 20.0, 40.0], coordinate_system="cam_front"),
            frame_value=frame,
        )
    car = label.add_object("car-1", "car", frame_value=1)
    box = vcd_types.bbox("box", [320.0, 240.0, 100.0, 50.0], coordinate_system="cam_left")
    box.add_attribute(vcd_types.boolean("avops_prelabel", True))
    label.add_object_data(car, box, frame_value=1)
    return dict(json.loads(label.stringify(pretty=False)))


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


@pytest.fixture
def index() -> PackageIndex:
    return PackageIndex(make_package())


def test_valid_coco_becomes_labels_of_the_package_items(index: PackageIndex) -> None:
    checked = check_label_file(COCO_NAME, encode(coco_document()), index)
    assert checked.ok, checked.issues.messages
    assert checked.format is LabelFormat.COCO
    assert sorted(i.item_id for i in checked.covered) == [1, 4]
    by_id = {label.label_id: label for label in checked.labels}
    assert by_id["1"].category == "pedestrian"  # matched by name, not by the file's id
    assert by_id["1"].bbox == (100, 50, 20, 40)
    assert by_id["1"].attributes == {"iscrowd": 0}
    assert by_id["2"].category == "car"
    assert by_id["2"].attributes == {"avops_prelabel": True, "occluded": False}
    assert by_id["3"].item.measurement_id == "m-2"


def test_valid_openlabel_becomes_top_left_boxes(index: PackageIndex) -> None:
    checked = check_label_file(OPENLABEL_NAME, encode(openlabel_document()), index)
    assert checked.ok, checked.issues.messages
    assert checked.format is LabelFormat.OPENLABEL
    boxes = {(label.item.item_id, label.category): label.bbox for label in checked.labels}
    # OpenLABEL [centre x, centre y, w, h] -> COCO [left, top, w, h].
    assert boxes == {
        (1, "pedestrian"): (100.0, 50.0, 20.0, 40.0),
        (2, "pedestrian"): (110.0, 50.0, 20.0, 40.0),
        (3, "car"): (270.0, 215.0, 100.0, 50.0),
    }
    assert sorted(i.item_id for i in checked.covered) == [1, 2, 3]
    [car] = [label for label in checked.labels if label.category == "car"]
    assert car.attributes == {"object": "car-1", "avops_prelabel": True}


def test_coco_unknown_image_id_is_named_with_its_path(index: PackageIndex) -> None:
    document = coco_document()
    document["annotations"][1]["image_id"] = 99
    checked = check_label_file(COCO_NAME, encode(document), index)
    assert checked.issues.messages == [
        f"{COCO_NAME}: annotations[1].image_id: image id 99 is not in the export's package"
    ]
    assert checked.labels == []


def test_coco_box_outside_the_image(index: PackageIndex) -> None:
    document = coco_document()
    document["annotations"][2]["bbox"] = [630, 200, 20, 30]
    checked = check_label_file(COCO_NAME, encode(document), index)
    [message] = checked.issues.messages
    assert message.startswith(f"{COCO_NAME}: annotations[2].bbox: box [x=630, y=200, w=20, h=30]")
    assert "outside image 4 (640x480 px)" in message


def test_coco_unknown_category_and_every_other_error_are_all_listed(index: PackageIndex) -> None:
    document = coco_document()
    document["categories"].append({"id": 30, "name": "unicorn"})
    document["annotations"].append(
        {"id": 4, "image_id": 1, "category_id": 30, "bbox": [1, 1, 1, 1]}
    )
    document["annotations"].append(
        {"id": 5, "image_id": 1, "category_id": 77, "bbox": [1, 1, 1, 1]}
    )
    document["annotations"].append(
        {"id": 1, "image_id": 1, "category_id": 10, "bbox": [1, 1, 1, 1]}
    )
    document["images"][0]["width"] = 1280
    checked = check_label_file(COCO_NAME, encode(document), index)
    assert checked.issues.messages == [
        f"{COCO_NAME}: images[0].width: 1280 but the package's image has 640",
        f"{COCO_NAME}: categories[2].name: category 'unicorn' is not one of the package's "
        "categories ['car', 'cyclist', 'pedestrian']",
        f"{COCO_NAME}: annotations[4].category_id: category id 77 is not in the file's categories",
        f"{COCO_NAME}: annotations[5].id: annotation id 1 appears more than once",
    ]
    assert not checked.ok and checked.labels == []


def test_coco_wrong_schema_names_each_field(index: PackageIndex) -> None:
    document = coco_document()
    document["annotations"][0]["bbox"] = [1, 2, 3]
    document["annotations"][2]["image_id"] = "4"
    del document["images"][1]["id"]
    checked = check_label_file(COCO_NAME, encode(document), index)
    paths = [message.split(": ")[1] for message in checked.issues.messages]
    assert paths == ["images[1].id", "annotations[0].bbox", "annotations[2].image_id"]
    assert all(message.startswith(f"{COCO_NAME}: ") for message in checked.issues.messages)


def test_broken_json_reports_line_and_column(index: PackageIndex) -> None:
    text = '{\n  "images": [],\n  "annotations": [\n    {"id": 1,, }\n  ]\n}'
    checked = check_label_file(COCO_NAME, text.encode(), index)
    assert checked.format is None
    assert checked.issues.messages == [
        f"{COCO_NAME}: $: not valid JSON: line 4 column 14: Expecting property name enclosed "
        "in double quotes"
    ]


def test_neither_format_is_rejected(index: PackageIndex) -> None:
    checked = check_label_file(COCO_NAME, encode({"images": [], "labels": []}), index)
    assert detect_format({"images": [], "labels": []}) is None
    assert "neither COCO" in checked.issues.messages[0]


def test_openlabel_schema_violation_is_named_by_its_path(index: PackageIndex) -> None:
    document = openlabel_document()
    document["openlabel"]["frames"]["0"]["objects"]["0"]["object_data"]["bbox"][0]["val"] = [1, 2]
    checked = check_label_file(OPENLABEL_NAME, encode(document), index)
    [message] = checked.issues.messages
    assert message.startswith(
        f"{OPENLABEL_NAME}: openlabel.frames.0.objects.0.object_data.bbox[0].val: "
    )
    assert "too short" in message


def test_openlabel_unknown_frame_stream_category_and_box(index: PackageIndex) -> None:
    document = openlabel_document()
    root = document["openlabel"]
    root["frames"]["7"] = root["frames"]["0"]
    frame_1 = root["frames"]["1"]["objects"]
    frame_1["0"]["object_data"]["bbox"][0]["coordinate_system"] = "cam_rear"
    frame_1["1"]["object_data"]["bbox"][0]["val"] = [630.0, 240.0, 100.0, 50.0]
    root["objects"]["2"] = {"name": "u", "type": "unicorn"}
    checked = check_label_file(OPENLABEL_NAME, encode(document), index)
    assert checked.issues.messages == [
        f"{OPENLABEL_NAME}: openlabel.objects.2.type: category 'unicorn' is not one of the "
        "package's categories ['car', 'cyclist', 'pedestrian']",
        f"{OPENLABEL_NAME}: openlabel.frames.1.objects.0.object_data.bbox[0].coordinate_system: "
        "(frame 1, stream 'cam_rear') is not an item of the export's package",
        f"{OPENLABEL_NAME}: openlabel.frames.1.objects.1.object_data.bbox[0].val: box "
        "[x=580, y=215, w=100, h=50] is outside image 3 (640x480 px)",
        f"{OPENLABEL_NAME}: openlabel.frames.7: frame 7 is not in the export's package",
    ]


def test_errors_are_capped_but_counted(index: PackageIndex) -> None:
    document = coco_document()
    document["annotations"] = [
        {"id": n, "image_id": 1000 + n, "category_id": 10, "bbox": [0, 0, 1, 1]}
        for n in range(MAX_ERRORS + 50)
    ]
    checked = check_label_file(COCO_NAME, encode(document), index)
    assert checked.issues.count == MAX_ERRORS + 50
    assert len(checked.issues.messages) == MAX_ERRORS
    assert checked.issues.messages[-1].startswith(
        f"{COCO_NAME}: annotations[{MAX_ERRORS - 1}].image_id: "
    )


def test_coco_cannot_label_a_point_cloud_item() -> None:
    package = make_package()
    cloud = package.items[3].model_copy(
        update={"kind": "pointcloud", "width": None, "height": None}
    )
    index = PackageIndex(package.model_copy(update={"items": [*package.items[:3], cloud]}))
    checked = check_label_file(COCO_NAME, encode(coco_document()), index)
    assert checked.issues.messages == [
        f"{COCO_NAME}: images[1].id: item 4 is a pointcloud, not an image: label it in OpenLABEL",
        f"{COCO_NAME}: annotations[2].image_id: item 4 is a pointcloud, not an image: label it "
        "in OpenLABEL",
    ]
