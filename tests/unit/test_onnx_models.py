"""Tiny ONNX detectors built with onnx.helper for the detector tests (no model downloads here).

- ``constant_model``: fixed outputs whatever the image (layout and decoding tests).
- ``red_box_model``: one box around the red pixels of the image (R > 0.6 and G < 0.4 after the
  1/255 scale), score 1 if there are any, else 0: an input-dependent detector whose answer can be
  computed by hand. The sample drive paints its pedestrians (200, 60, 40), which it finds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from dataops.enrichment.config import DEFAULT_CONFIG_PATH

__all__ = ["constant_model", "red_box_model", "save"]

_OPSET = 17


def _model(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def save(model: bytes, path: Path) -> Path:
    """Write the model bytes to ``path``; returns it."""
    path.write_bytes(model)
    return path


def _image_input(
    height: int, width: int, batch: int | str, shape: list[int | str] | None = None
) -> onnx.ValueInfoProto:
    dims = shape if shape is not None else [batch, 3, height, width]
    return helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)


def constant_model(
    outputs: dict[str, np.ndarray],
    *,
    height: int,
    width: int,
    input_shape: list[int | str] | None = None,
    symbolic_outputs: bool = False,
) -> bytes:
    """Outputs fixed arrays (float ones + 0 x the image mean, so the input is used); batch 1.

    ``input_shape`` replaces the declared ``[1, 3, height, width]`` input (bad-model tests).
    ``symbolic_outputs``: float outputs get their shape from a Reshape whose target is computed
    from the image, so no output dimension is known before the model runs.
    """
    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0)]
    nodes.append(helper.make_node("Mul", ["mean", "zero"], ["nothing"]))
    initializers = [numpy_helper.from_array(np.array(0, np.float32), "zero")]
    graph_outputs = []
    for name, value in outputs.items():
        initializers.append(numpy_helper.from_array(value, f"{name}_value"))
        if value.dtype == np.float32 and symbolic_outputs:
            target = np.array(value.shape, np.float32)
            initializers.append(numpy_helper.from_array(target, f"{name}_target"))
            nodes += [
                helper.make_node("Add", [f"{name}_target", "nothing"], [f"{name}_shape_f"]),
                helper.make_node(
                    "Cast", [f"{name}_shape_f"], [f"{name}_shape"], to=TensorProto.INT64
                ),
                helper.make_node("Reshape", [f"{name}_value", f"{name}_shape"], [name]),
            ]
            kind = TensorProto.FLOAT
        elif value.dtype == np.float32:
            nodes.append(helper.make_node("Add", [f"{name}_value", "nothing"], [name]))
            kind = TensorProto.FLOAT
        else:
            nodes.append(helper.make_node("Identity", [f"{name}_value"], [name]))
            kind = TensorProto.INT64
        dims: list[int | str] = list(value.shape)
        if symbolic_outputs:
            dims = [f"{name}_{axis}" for axis in range(value.ndim)]
        graph_outputs.append(helper.make_tensor_value_info(name, kind, dims))
    graph = helper.make_graph(
        nodes,
        "constant",
        [_image_input(height, width, 1, input_shape)],
        graph_outputs,
        initializers,
    )
    return _model(graph)


def red_box_model(
    *, height: int, width: int, layout: Literal["boxes_scores_labels", "yolo"]
) -> bytes:
    """One box per image around its red pixels; batch dimension dynamic.

    boxes_scores_labels: boxes [B, 1, 4] (x1, y1, x2 + 1, y2 + 1 of the red pixels), scores
    [B, 1], labels [B, 1] = 0. yolo: [B, 5, 1] = cx, cy, w, h, score (one class).
    """
    ints = {
        "c0": [0],
        "c1": [1],
        "c2": [2],
        "axis1": [1],
        "minus1": [-1],
        "far": [-(1 << 30)],
    }
    initializers = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in ints.items()]
    initializers += [
        numpy_helper.from_array(np.array(0.6, np.float32), "red_min"),
        numpy_helper.from_array(np.array(0.4, np.float32), "green_max"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(width - 1, np.float32), "last_col"),
        numpy_helper.from_array(np.array(height - 1, np.float32), "last_row"),
    ]
    node = helper.make_node
    nodes = [
        node("Slice", ["images", "c0", "c1", "axis1"], ["red"]),
        node("Slice", ["images", "c1", "c2", "axis1"], ["green"]),
        node("Greater", ["red", "red_min"], ["is_red"]),
        node("Less", ["green", "green_max"], ["not_green"]),
        node("And", ["is_red", "not_green"], ["mask_bool"]),
        node("Cast", ["mask_bool"], ["mask"], to=TensorProto.FLOAT),
        # Any red per column [B, W] and per row [B, H].
        node("ReduceMax", ["mask"], ["cols"], axes=[1, 2], keepdims=0),
        node("ReduceMax", ["mask"], ["rows"], axes=[1, 3], keepdims=0),
        node("ReduceMax", ["cols"], ["score"], axes=[1], keepdims=1),  # [B, 1]
    ]
    # First red column/row: ArgMax; last: ArgMax of the reversed vector, counted from the end.
    for name, vector, last in (("x", "cols", "last_col"), ("y", "rows", "last_row")):
        nodes += [
            node("ArgMax", [vector], [f"{name}_first_i"], axis=1, keepdims=1),
            node("Slice", [vector, "minus1", "far", "axis1", "minus1"], [f"{name}_reversed"]),
            node("ArgMax", [f"{name}_reversed"], [f"{name}_back_i"], axis=1, keepdims=1),
            node("Cast", [f"{name}_first_i"], [f"{name}_min"], to=TensorProto.FLOAT),
            node("Cast", [f"{name}_back_i"], [f"{name}_back"], to=TensorProto.FLOAT),
            node("Sub", [last, f"{name}_back"], [f"{name}_last"]),
            node("Add", [f"{name}_last", "one"], [f"{name}_max"]),
        ]
    if layout == "boxes_scores_labels":
        nodes += [
            node("Concat", ["x_min", "y_min", "x_max", "y_max"], ["boxes_flat"], axis=1),
            node("Unsqueeze", ["boxes_flat", "axis1"], ["boxes"]),  # [B, 1, 4]
            node("Cast", ["score"], ["labels_f"], to=TensorProto.INT64),
            node("Mul", ["labels_f", "c0"], ["labels"]),  # zeros [B, 1]
        ]
        outputs = [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["B", 1, 4]),
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["B", 1]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["B", 1]),
        ]
    else:
        initializers.append(numpy_helper.from_array(np.array(2.0, np.float32), "two"))
        nodes += [
            node("Add", ["x_min", "x_max"], ["x_sum"]),
            node("Div", ["x_sum", "two"], ["cx"]),
            node("Add", ["y_min", "y_max"], ["y_sum"]),
            node("Div", ["y_sum", "two"], ["cy"]),
            node("Sub", ["x_max", "x_min"], ["w"]),
            node("Sub", ["y_max", "y_min"], ["h"]),
            node("Concat", ["cx", "cy", "w", "h", "score"], ["flat"], axis=1),
            node("Unsqueeze", ["flat", "minus1"], ["output0"]),  # [B, 5, 1]
        ]
        outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["B", 5, 1])]
    graph = helper.make_graph(
        nodes, "red_box", [_image_input(height, width, "B")], outputs, initializers
    )
    return _model(graph)


def red_box_enrichment_config(folder: Path, *, frame_stride: int) -> Path:
    """The shipped enrichment config with the red-box model (320x320, YOLO layout) as its
    object detector: ``red.onnx`` and ``enrichment.json`` written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "red.onnx").write_bytes(red_box_model(height=320, width=320, layout="yolo"))
    config = json.loads(DEFAULT_CONFIG_PATH.read_text())
    config["objects"]["detector"] = {
        "model": "red.onnx",
        "layout": "yolo",
        "class_names": ["red_box"],
        "input_width": 320,
        "input_height": 320,
        "batch_size": 8,
        "frame_stride": frame_stride,
    }
    path = folder / "enrichment.json"
    path.write_text(json.dumps(config))
    return path


def test_the_red_box_model_boxes_the_red_pixels_in_both_layouts() -> None:
    images = np.zeros((2, 3, 64, 96), np.float32)
    images[0, 0, 10:20, 30:41] = 0.8  # red rows 10..19, columns 30..40; image 1 has none
    boxes_layout = ort.InferenceSession(
        red_box_model(height=64, width=96, layout="boxes_scores_labels"),
        providers=["CPUExecutionProvider"],
    )
    boxes, scores, labels = boxes_layout.run(None, {"images": images})
    assert boxes[0].tolist() == [[30.0, 10.0, 41.0, 20.0]]
    assert scores.tolist() == [[1.0], [0.0]] and labels.tolist() == [[0], [0]]
    yolo = ort.InferenceSession(
        red_box_model(height=64, width=96, layout="yolo"), providers=["CPUExecutionProvider"]
    )
    (output,) = yolo.run(None, {"images": images})
    assert output.shape == (2, 5, 1)
    assert output[0, :, 0].tolist() == [35.5, 15.0, 11.0, 10.0, 1.0]
    assert output[1, 4, 0] == 0.0
