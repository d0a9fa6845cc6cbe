"""The ONNX detector: letterbox geometry, preprocessing, NMS, both output layouts, bad models.

Every model is built here with onnx.helper (tests/unit/test_onnx_models.py); expected values are
computed by hand in the comments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dataops.enrichment.config import DetectorConfig
from dataops.enrichment.onnx_detector import (
    Detections,
    OnnxDetector,
    batched_nms,
    letterbox_geometry,
    nms,
    preprocess,
    to_image_boxes,
)
from dataops.errors import InvalidInputError
from tests.unit.test_onnx_models import constant_model, red_box_model

CLASSES = ["car", "pedestrian"]


def _config(**overrides: Any) -> DetectorConfig:
    values: dict[str, Any] = {
        "model": "detector.onnx",
        "layout": "yolo",
        "class_names": CLASSES,
        "input_width": 160,
        "input_height": 160,
    }
    return DetectorConfig.model_validate(values | overrides)


def _detect(detector: OnnxDetector, images: list[np.ndarray]) -> list[Detections]:
    return list(detector.detect(preprocess(image, detector.config) for image in images))


# ----------------------------------------------------------------------------- geometry


def test_letterbox_geometry_and_the_way_back_by_hand() -> None:
    # 640x360 into 160x160: ratio min(160/640, 160/360) = 0.25 -> 160x90, (160-90)/2 = 35 above.
    geometry = letterbox_geometry(640, 360, _config())
    assert (geometry.scale_x, geometry.scale_y) == (0.25, 0.25)
    assert (geometry.pad_x, geometry.pad_y) == (0, 35)
    assert (geometry.resized_width, geometry.resized_height) == (160, 90)
    # Input (40, 45)-(80, 125) -> ((40-0)/.25, (45-35)/.25) = (160, 40), (320, 360).
    boxes = np.array([[40.0, 45.0, 80.0, 125.0], [-10.0, 30.0, 170.0, 130.0]])
    mapped = to_image_boxes(boxes, geometry)
    assert mapped[0].tolist() == [160.0, 40.0, 320.0, 360.0]
    # Outside the picture (padding, beyond the input) is clipped to the image.
    assert mapped[1].tolist() == [0.0, 0.0, 640.0, 360.0]
    # Portrait 300x600 into 160x160: 80x160, 40 columns left of it.
    tall = letterbox_geometry(300, 600, _config())
    assert (tall.pad_x, tall.pad_y, tall.resized_width, tall.resized_height) == (40, 0, 80, 160)
    # Stretched (no letterbox): separate scales, no padding.
    stretched = letterbox_geometry(640, 360, _config(letterbox=False))
    assert (stretched.scale_x, stretched.scale_y) == (0.25, 160 / 360)
    assert (stretched.pad_x, stretched.pad_y) == (0, 0)
    assert to_image_boxes(np.array([[40.0, 80.0, 80.0, 160.0]]), stretched)[0].tolist() == [
        160.0,
        180.0,
        320.0,
        360.0,
    ]


def test_preprocess_pads_scales_normalizes_and_orders_channels() -> None:
    image = np.empty((360, 640, 3), np.uint8)
    image[:] = (10, 20, 30)  # BGR
    config = _config(mean=(0.1, 0.2, 0.3), std=(0.5, 0.5, 0.5))
    tensor, geometry = preprocess(image, config)
    assert tensor.shape == (3, 160, 160) and tensor.dtype == np.float32
    assert geometry.pad_y == 35
    inside = tensor[:, 35 + 45, 80]
    # RGB order: (30, 20, 10)/255, minus the mean, over the std.
    expected = [(30 / 255 - 0.1) / 0.5, (20 / 255 - 0.2) / 0.5, (10 / 255 - 0.3) / 0.5]
    assert inside.tolist() == pytest.approx(expected, abs=1e-6)
    # Padding rows above and below: 114 everywhere.
    assert tensor[0, 0, 0] == pytest.approx((114 / 255 - 0.1) / 0.5, abs=1e-6)
    assert tensor[2, 159, 159] == pytest.approx((114 / 255 - 0.3) / 0.5, abs=1e-6)
    assert tensor[0, 34, 0] == tensor[0, 0, 0] and tensor[0, 35, 0] != tensor[0, 0, 0]
    bgr, _ = preprocess(image, _config(channel_order="bgr"))
    assert bgr[:, 100, 80].tolist() == pytest.approx([10 / 255, 20 / 255, 30 / 255], abs=1e-6)


def test_nms_keeps_the_best_of_each_overlapping_group_by_hand() -> None:
    boxes = np.array(
        [
            [0.0, 0.0, 10.0, 10.0],  # score 0.9
            [1.0, 1.0, 11.0, 11.0],  # IoU with the first: 81 / (100 + 100 - 81) = 0.68
            [20.0, 20.0, 30.0, 30.0],  # apart
            [0.0, 0.0, 10.0, 10.0],  # the first again, lower score
        ]
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.7).tolist() == [0, 1, 2]
    # Per class: a pedestrian on top of the car survives.
    classes = np.array([0, 1, 0, 0], np.int64)
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 1, 2]
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5).size == 0


# ----------------------------------------------------------------------------- layouts

# Four yolo candidates in input pixels (cx, cy, w, h, car score, pedestrian score):
# 0: car 0.9 at (40, 70)-(80, 90) -> image (160, 140)-(320, 220)
# 1: car 0.8 shifted 2 px: IoU 760 / 840 = 0.9 with 0 -> suppressed
# 2: pedestrian 0.7 at (42, 70)-(82, 90) -> image (168, 140)-(328, 220), other class: kept
# 3: best score 0.2 < threshold 0.25 -> dropped
YOLO_ROWS = np.array(
    [
        [60, 80, 40, 20, 0.9, 0.1],
        [62, 80, 40, 20, 0.8, 0.2],
        [62, 80, 40, 20, 0.1, 0.7],
        [10, 10, 4, 4, 0.1, 0.2],
    ],
    np.float32,
)


@pytest.mark.parametrize("channels_first", [True, False])
def test_yolo_output_in_either_orientation_decodes_to_image_boxes(channels_first: bool) -> None:
    output = YOLO_ROWS.T[None] if channels_first else YOLO_ROWS[None]
    model = constant_model({"output0": np.ascontiguousarray(output)}, height=160, width=160)
    detector = OnnxDetector(model, source="yolo.onnx", config=_config())
    assert detector.batch_size == 1  # the model's fixed batch dimension wins over the config
    (found,) = _detect(detector, [np.zeros((360, 640, 3), np.uint8)])
    assert [CLASSES[c] for c in found.class_ids] == ["car", "pedestrian"]
    assert found.scores.tolist() == pytest.approx([0.9, 0.7])
    assert found.boxes.tolist() == [[160.0, 140.0, 320.0, 220.0], [168.0, 140.0, 328.0, 220.0]]


def test_boxes_scores_labels_with_a_background_label_offset() -> None:
    outputs = {
        "boxes": np.array([[40, 70, 80, 90], [10, 40, 20, 50], [0, 0, 5, 5]], np.float32),
        "scores": np.array([0.9, 0.6, 0.1], np.float32),
        # torchvision: 0 is the background, 1 the first class. Label 0 scores under the
        # threshold, so it is dropped before the range check.
        "labels": np.array([2, 1, 0], np.int64),
    }
    model = constant_model(outputs, height=160, width=160)
    config = _config(layout="boxes_scores_labels", label_offset=1)
    (found,) = _detect(OnnxDetector(model, source="frcnn.onnx", config=config), [_black()])
    assert [CLASSES[c] for c in found.class_ids] == ["pedestrian", "car"]
    assert found.boxes.tolist() == [[160.0, 140.0, 320.0, 220.0], [40.0, 20.0, 80.0, 60.0]]
    # max_detections keeps the best only.
    capped = OnnxDetector(
        model, source="frcnn.onnx", config=config.model_copy(update={"max_detections": 1})
    )
    assert _detect(capped, [_black()])[0].scores.tolist() == pytest.approx([0.9])


def _black() -> np.ndarray:
    return np.zeros((360, 640, 3), np.uint8)


@pytest.mark.parametrize("layout", ["boxes_scores_labels", "yolo"])
def test_the_red_box_model_finds_painted_boxes_through_the_letterbox(layout: str) -> None:
    model = red_box_model(height=320, width=320, layout=layout)  # type: ignore[arg-type]
    config = _config(
        layout=layout, class_names=["red"], input_width=320, input_height=320, batch_size=2
    )
    detector = OnnxDetector(model, source="red.onnx", config=config)
    assert detector.batch_size == 2  # dynamic batch dimension: the config's
    first, empty, second = _black(), _black(), _black()
    first[100:180, 200:300] = (40, 60, 200)  # BGR red: rows 100..179, columns 200..299
    second[10:50, 600:640] = (40, 60, 200)
    results = _detect(detector, [first, empty, second])  # two runs: 2 frames, then 1
    assert len(results) == 3
    # Scale 0.5, 70 rows of padding above: one input pixel is two image pixels.
    assert results[0].boxes.tolist()[0] == pytest.approx([200, 100, 300, 180], abs=2.01)
    assert results[0].scores.tolist() == [1.0] and results[0].class_ids.tolist() == [0]
    assert results[1].boxes.shape == (0, 4)
    assert results[2].boxes.tolist()[0] == pytest.approx([600, 10, 640, 50], abs=2.01)


# ----------------------------------------------------------------------------- bad models


def _bsl_model(height: int = 160, width: int = 160, **kwargs: Any) -> bytes:
    outputs = {
        "boxes": np.array([[40, 70, 80, 90]], np.float32),
        "scores": np.array([0.9], np.float32),
        "labels": np.array([5], np.int64),
    }
    return constant_model(outputs, height=height, width=width, **kwargs)


@pytest.mark.parametrize(
    ("model", "overrides", "field", "message"),
    [
        (b"not an onnx model", {}, "model", "cannot load the ONNX model"),
        (
            _bsl_model(input_shape=[1, 3, 160]),
            {"layout": "boxes_scores_labels"},
            "model",
            "rank 3",
        ),
        (_bsl_model(height=320), {"layout": "boxes_scores_labels"}, "input_height", "320"),
        (_bsl_model(), {"layout": "yolo"}, "layout", "a yolo output has 3"),
        (
            constant_model({"output0": YOLO_ROWS.T[None].copy()}, height=160, width=160),
            {"layout": "boxes_scores_labels"},
            "layout",
            "needs 3 outputs",
        ),
        (
            _bsl_model(),
            {"layout": "boxes_scores_labels", "output_names": ["b"]},
            "output_names",
            "'b'",
        ),
    ],
    ids=["garbage", "input-rank", "input-size", "bsl-as-yolo", "yolo-as-bsl", "output-name"],
)
def test_a_model_that_does_not_fit_names_the_file_and_the_field(
    model: bytes, overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as err:
        OnnxDetector(model, source="/models/bad.onnx", config=_config(**overrides))
    assert err.value.source == "/models/bad.onnx"
    assert err.value.field == f"objects.detector.{field}"


def test_outputs_that_contradict_the_class_names_fail_at_load_or_the_first_frame() -> None:
    # Three class names, but the yolo output has 4 + 2 rows: neither orientation fits. The
    # constant model declares its output shape, so this is known at load.
    model = constant_model({"output0": YOLO_ROWS.T[None].copy()}, height=160, width=160)
    with pytest.raises(InvalidInputError, match=r"neither \[B, 7, N\]") as err:
        OnnxDetector(model, source="yolo.onnx", config=_config(class_names=["a", "b", "c"]))
    assert (err.value.source, err.value.field) == ("yolo.onnx", "objects.detector.class_names")
    # The red-box model's output is [B, 5, 1]: B is dynamic, but 5 and 1 are static, so a
    # two-class config is refused at load too.
    red = red_box_model(height=160, width=160, layout="yolo")
    with pytest.raises(InvalidInputError, match=r"neither \[B, 6, N\]"):
        OnnxDetector(red, source="red.onnx", config=_config())
    # Output dimensions declared unknown: the first frame's output tells.
    unknown = constant_model(
        {"output0": YOLO_ROWS.T[None].copy()}, height=160, width=160, symbolic_outputs=True
    )
    detector = OnnxDetector(
        unknown, source="yolo.onnx", config=_config(class_names=["a", "b", "c"])
    )
    with pytest.raises(InvalidInputError, match=r"neither \[B, 7, N\]") as err:
        _detect(detector, [_black()])
    assert err.value.field == "objects.detector.class_names"
    # A label beyond the class names (5 with two names).
    labels = OnnxDetector(
        _bsl_model(), source="bsl.onnx", config=_config(layout="boxes_scores_labels")
    )
    with pytest.raises(InvalidInputError, match="label 5") as err:
        _detect(labels, [_black()])
    assert err.value.field == "objects.detector.class_names"
    # A dynamic input batch, but the output always holds one frame: two frames per call fail.
    fixed_output = constant_model(
        {"output0": YOLO_ROWS.T[None].copy()},
        height=160,
        width=160,
        input_shape=["B", 3, 160, 160],
    )
    batched = OnnxDetector(fixed_output, source="yolo.onnx", config=_config(batch_size=2))
    with pytest.raises(InvalidInputError, match="output batch dimension 1") as err:
        _detect(batched, [_black(), _black()])
    assert err.value.field == "objects.detector.batch_size"


def test_detector_config_rejects_a_zero_std() -> None:
    with pytest.raises(ValueError, match="std"):
        _config(std=(1.0, 0.0, 1.0))
