"""The optional ONNX object detector: letterbox in, boxes out, NMS in numpy.

Two output layouts of common exports (``objects.detector.layout``):

- ``boxes_scores_labels``: three outputs, boxes ``[N, 4]`` x1,y1,x2,y2 in input pixels, scores
  ``[N]``, labels ``[N]``, each with an optional leading batch dimension (torchvision-style).
- ``yolo``: one output ``[B, 4+C, N]`` or ``[B, N, 4+C]``: cx,cy,w,h in input pixels and C
  class scores (Ultralytics YOLOv8 and later).

Boxes are mapped back through the letterbox to the original image's pixels and clipped to it.
A model that cannot be loaded or whose inputs and outputs do not fit the config is an
InvalidInputError naming the model file and the config field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from dataops.enrichment.camera_frames import EncodedFrame
from dataops.enrichment.config import DetectorConfig
from dataops.enrichment.objects import DetectedObject
from dataops.errors import InvalidInputError, NotFoundError
from dataops.storage import BlobZones

__all__ = [
    "NAME",
    "VERSION",
    "Detections",
    "Geometry",
    "OnnxDetector",
    "batched_nms",
    "decode_image",
    "detect_frames",
    "letterbox_geometry",
    "load_detector",
    "nms",
    "preprocess",
    "to_image_boxes",
]

NAME = "onnx-detector"
VERSION = "1"
_FIELD = "objects.detector"

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]
ImageArray = npt.NDArray[np.uint8]
InputArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Geometry:
    """Where an image of ``width`` x ``height`` went inside the model input."""

    width: int
    height: int
    scale_x: float  # input pixels per image pixel
    scale_y: float
    pad_x: int
    pad_y: int
    resized_width: int
    resized_height: int


@dataclass(frozen=True)
class Detections:
    """One frame's detections after NMS: boxes x1,y1,x2,y2 in image pixels, best first."""

    boxes: FloatArray  # [N, 4]
    scores: FloatArray  # [N]
    class_ids: Int64Array  # [N]

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))


# ----------------------------------------------------------------------------- geometry


def letterbox_geometry(width: int, height: int, config: DetectorConfig) -> Geometry:
    """Resize (aspect kept and centred with padding if ``letterbox``, else stretched)."""
    target_w, target_h = config.input_width, config.input_height
    if config.letterbox:
        ratio = min(target_w / width, target_h / height)
        resized_w = max(1, min(target_w, round(width * ratio)))
        resized_h = max(1, min(target_h, round(height * ratio)))
    else:
        resized_w, resized_h = target_w, target_h
    return Geometry(
        width=width,
        height=height,
        # The rounded size, not the ratio: pixel edges then map back exactly.
        scale_x=resized_w / width,
        scale_y=resized_h / height,
        pad_x=(target_w - resized_w) // 2,
        pad_y=(target_h - resized_h) // 2,
        resized_width=resized_w,
        resized_height=resized_h,
    )


def decode_image(data: bytes | memoryview, *, source: str) -> ImageArray:
    """An encoded frame (JPEG, PNG, ...) -> BGR uint8 ``[H, W, 3]``."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInputError("cannot decode the camera frame", source=source)
    return np.asarray(image, dtype=np.uint8)


def preprocess(image_bgr: ImageArray, config: DetectorConfig) -> tuple[InputArray, Geometry]:
    """BGR image -> normalized ``[3, H, W]`` float32 model input and where the image went."""
    height, width = image_bgr.shape[:2]
    geometry = letterbox_geometry(width, height, config)
    resized = cv2.resize(
        image_bgr, (geometry.resized_width, geometry.resized_height), interpolation=cv2.INTER_LINEAR
    )
    canvas = np.full((config.input_height, config.input_width, 3), config.pad_value, np.uint8)
    top, left = geometry.pad_y, geometry.pad_x
    canvas[top : top + geometry.resized_height, left : left + geometry.resized_width] = resized
    if config.channel_order == "rgb":
        canvas = canvas[..., ::-1]
    scaled = canvas.astype(np.float32) * np.float32(config.scale)
    mean = np.asarray(config.mean, np.float32)
    std = np.asarray(config.std, np.float32)
    normalized = (scaled - mean) / std
    return np.ascontiguousarray(normalized.transpose(2, 0, 1)), geometry


def to_image_boxes(boxes: FloatArray, geometry: Geometry) -> FloatArray:
    """x1,y1,x2,y2 in model-input pixels -> in the original image's pixels, clipped to it."""
    out = np.empty_like(boxes, dtype=np.float64)
    out[:, [0, 2]] = (boxes[:, [0, 2]] - geometry.pad_x) / geometry.scale_x
    out[:, [1, 3]] = (boxes[:, [1, 3]] - geometry.pad_y) / geometry.scale_y
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, geometry.width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, geometry.height)
    return out


# ----------------------------------------------------------------------------- NMS


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> Int64Array:
    """Greedy non-maximum suppression: indices kept, highest score first.

    A box is dropped when its IoU with a kept, higher-scoring box is above ``iou_threshold``;
    equal scores keep the earlier box.
    """
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        inter_w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        inter_h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = inter_w * inter_h
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: FloatArray, scores: FloatArray, class_ids: Int64Array, iou_threshold: float
) -> Int64Array:
    """NMS within each class only: shifting each class's boxes apart makes them never overlap."""
    if boxes.shape[0] == 0:
        return np.zeros(0, np.int64)
    span = float(np.max(boxes)) - float(np.min(boxes)) + 1.0
    shifted = boxes + (class_ids.astype(np.float64) * span)[:, None]
    return nms(shifted, scores, iou_threshold)


# ----------------------------------------------------------------------------- the model


class OnnxDetector:
    """An onnxruntime session on the configured model, checked against the config."""

    def __init__(self, model: bytes, *, source: str, config: DetectorConfig) -> None:
        self.source = source
        self.config = config
        self.sha256 = hashlib.sha256(model).hexdigest()
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                model, sess_options=options, providers=["CPUExecutionProvider"]
            )
        # onnxruntime's errors are pybind classes with no common base but Exception.
        except Exception as err:
            raise self._error(f"cannot load the ONNX model: {err}", "model") from err
        self.input_name, self.batch_size = self._check_input()
        self.output_names = self._check_outputs()

    # -- checks against the config

    def _error(self, message: str, field: str) -> InvalidInputError:
        return InvalidInputError(message, source=self.source, field=f"{_FIELD}.{field}")

    def _check_input(self) -> tuple[str, int]:
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise self._error(f"the model has {len(inputs)} inputs, need one image input", "model")
        tensor = inputs[0]
        shape = list(tensor.shape)
        if len(shape) != 4:
            raise self._error(
                f"input {tensor.name!r} has rank {len(shape)} {shape}, need 4 (N, 3, H, W)",
                "model",
            )
        if tensor.type != "tensor(float)":
            raise self._error(f"input {tensor.name!r} is {tensor.type}, need float", "model")
        if isinstance(shape[1], int) and shape[1] != 3:
            raise self._error(f"input {tensor.name!r} has {shape[1]} channels, need 3", "model")
        for dim, field, want in (
            (shape[2], "input_height", self.config.input_height),
            (shape[3], "input_width", self.config.input_width),
        ):
            if isinstance(dim, int) and dim != want:
                raise self._error(f"the model's input is {dim} pixels, the config {want}", field)
        # A fixed batch dimension is used as is (short batches are padded).
        batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else self.config.batch_size
        return tensor.name, batch

    def _check_outputs(self) -> list[str]:
        outputs = {o.name: o for o in self.session.get_outputs()}
        wanted = 3 if self.config.layout == "boxes_scores_labels" else 1
        names = self.config.output_names or list(outputs)[:wanted]
        missing = [n for n in names if n not in outputs]
        if missing:
            raise self._error(
                f"no output named {missing[0]!r} (has {list(outputs)})", "output_names"
            )
        if len(names) != wanted:
            raise self._error(
                f"layout {self.config.layout} needs {wanted} outputs, got {len(names)}",
                "output_names" if self.config.output_names else "layout",
            )
        shape = list(outputs[names[0]].shape)
        if self.config.layout == "yolo":
            if len(shape) != 3:
                raise self._error(
                    f"output {names[0]!r} has rank {len(shape)}, a yolo output has 3", "layout"
                )
            channels = 4 + len(self.config.class_names)
            if all(isinstance(d, int) for d in shape[1:]) and channels not in shape[1:]:
                raise self._error(
                    f"yolo output {names[0]!r} is {shape}: neither [B, {channels}, N] nor "
                    f"[B, N, {channels}] for {len(self.config.class_names)} class names",
                    "class_names",
                )
        else:
            rank = len(shape)
            if rank not in (2, 3) or (isinstance(shape[-1], int) and shape[-1] != 4):
                raise self._error(
                    f"boxes output {names[0]!r} is {shape}, need [N, 4] or [B, N, 4]", "layout"
                )
            if rank == 2:
                # No batch dimension in the outputs: one frame per run.
                self.batch_size = 1
        return names

    # -- inference

    def info(self) -> dict[str, Any]:
        """Provider record for the ENRICHED datastream's stats."""
        return {
            "name": NAME,
            "version": VERSION,
            "onnxruntime": ort.__version__,
            "model": self.source,
            "model_sha256": self.sha256,
            "layout": self.config.layout,
            "classes": len(self.config.class_names),
            "input": [self.config.input_width, self.config.input_height],
            "frame_stride": self.config.frame_stride,
            "score_threshold": self.config.score_threshold,
            "nms_iou": self.config.nms_iou,
        }

    def detect(self, images: Iterable[tuple[InputArray, Geometry]]) -> Iterator[Detections]:
        """Detections per preprocessed image, in order; runs ``batch_size`` images at a time."""
        batch: list[tuple[InputArray, Geometry]] = []
        for item in images:
            batch.append(item)
            if len(batch) == self.batch_size:
                yield from self._run(batch)
                batch = []
        if batch:
            yield from self._run(batch)

    def _run(self, batch: list[tuple[InputArray, Geometry]]) -> list[Detections]:
        tensors = [tensor for tensor, _ in batch]
        # A fixed batch dimension larger than what is left: pad with blank images.
        tensors += [np.zeros_like(tensors[0])] * (self.batch_size - len(tensors))
        try:
            raw = self.session.run(self.output_names, {self.input_name: np.stack(tensors)})
        # onnxruntime pybind errors again, see __init__.
        except Exception as err:
            raise self._error(f"inference failed: {err}", "model") from err
        outputs = [np.asarray(o) for o in raw]
        batched = outputs[0].ndim == 3  # yolo [B, ., .] or boxes [B, N, 4]
        if batched and outputs[0].shape[0] < len(batch):
            raise self._error(
                f"{len(batch)} frames in, output batch dimension {outputs[0].shape[0]}: set "
                "batch_size 1 for a model whose outputs have a fixed batch of 1",
                "batch_size",
            )
        return [
            self._decode(outputs, number, geometry) for number, (_, geometry) in enumerate(batch)
        ]

    def _decode(self, outputs: list[Any], number: int, geometry: Geometry) -> Detections:
        if self.config.layout == "yolo":
            boxes, scores, class_ids = self._yolo(outputs[0], number)
        else:
            boxes, scores, class_ids = self._boxes_scores_labels(outputs, number)
        keep = scores >= self.config.score_threshold
        boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
        # Checked after the threshold: fixed-size exports pad with zero-score rows.
        outside = (class_ids < 0) | (class_ids >= len(self.config.class_names))
        if np.any(outside):
            raise self._error(
                f"label {int(class_ids[outside][0]) + self.config.label_offset} (label_offset "
                f"{self.config.label_offset}) is outside the {len(self.config.class_names)} "
                "class names",
                "class_names",
            )
        picked = batched_nms(boxes, scores, class_ids, self.config.nms_iou)
        picked = picked[: self.config.max_detections]
        return Detections(
            to_image_boxes(boxes[picked], geometry), scores[picked], class_ids[picked]
        )

    def _yolo(self, output: Any, number: int) -> tuple[FloatArray, FloatArray, Int64Array]:
        channels = 4 + len(self.config.class_names)
        if output.ndim != 3:
            raise self._error(f"yolo output has shape {list(output.shape)}, need rank 3", "layout")
        if output.shape[1] == channels:
            # [B, 4+C, N], the Ultralytics default; wins when N happens to equal 4+C too.
            prediction = output[number].T
        elif output.shape[2] == channels:
            prediction = output[number]
        else:
            raise self._error(
                f"yolo output has shape {list(output.shape)}: neither [B, {channels}, N] nor "
                f"[B, N, {channels}] for {len(self.config.class_names)} class names",
                "class_names",
            )
        prediction = np.asarray(prediction, np.float64)
        class_scores = prediction[:, 4:]
        class_ids = np.argmax(class_scores, axis=1).astype(np.int64)
        scores = class_scores[np.arange(class_ids.size), class_ids]
        cx, cy, w, h = (prediction[:, i] for i in range(4))
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        return boxes, scores, class_ids

    def _boxes_scores_labels(
        self, outputs: list[Any], number: int
    ) -> tuple[FloatArray, FloatArray, Int64Array]:
        boxes, scores, labels = outputs
        if boxes.ndim == 3:
            boxes, scores, labels = boxes[number], scores[number], labels[number]
        if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.ndim != 1 or labels.ndim != 1:
            raise self._error(
                f"outputs have shapes {[list(o.shape) for o in outputs]}, need boxes [N, 4], "
                "scores [N] and labels [N] (optionally with a batch dimension)",
                "layout",
            )
        if not boxes.shape[0] == scores.shape[0] == labels.shape[0]:
            raise self._error(
                f"{boxes.shape[0]} boxes, {scores.shape[0]} scores, {labels.shape[0]} labels",
                "layout",
            )
        class_ids = np.asarray(labels, np.int64) - self.config.label_offset
        return np.asarray(boxes, np.float64), np.asarray(scores, np.float64), class_ids


# ----------------------------------------------------------------------------- in the step


def load_detector(
    zones: BlobZones, config: DetectorConfig, *, config_dir: Path, max_bytes: int
) -> OnnxDetector:
    """Read the model (a blob in ``model_zone``, else a file relative to ``config_dir``)."""
    field = f"{_FIELD}.model"
    if config.model_zone is not None:
        source = f"{config.model_zone.value}/{config.model}"
        try:
            data = zones.read_bytes(config.model_zone, config.model, max_bytes=max_bytes).data
        except (NotFoundError, InvalidInputError) as err:
            raise InvalidInputError(
                f"cannot read the ONNX model: {err}", source=source, field=field
            ) from err
    else:
        path = Path(config.model)
        path = path if path.is_absolute() else config_dir / path
        source = str(path)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise InvalidInputError(
                    f"the ONNX model has {size} bytes, more than the {max_bytes} allowed",
                    source=source,
                    field=field,
                )
            data = path.read_bytes()
        except OSError as err:
            raise InvalidInputError(
                f"cannot read the ONNX model: {err}", source=source, field=field
            ) from err
    return OnnxDetector(data, source=source, config=config)


def detect_frames(
    detector: OnnxDetector, frames: Iterable[EncodedFrame], frame_count: int
) -> list[list[DetectedObject] | None]:
    """Objects per synchronized frame; None for the frames not run (stride, no frame).

    Streams: frames are decoded and preprocessed as the detector pulls them, one batch at a time.
    """
    names = detector.config.class_names
    ran: list[int] = []

    def inputs() -> Iterator[tuple[InputArray, Geometry]]:
        for frame in frames:
            ran.append(frame.frame)
            yield preprocess(decode_image(frame.data, source=frame.source), detector.config)

    out: list[list[DetectedObject] | None] = [None] * frame_count
    for number, found in enumerate(detector.detect(inputs())):
        out[ran[number]] = [
            DetectedObject(
                names[int(class_id)],
                round(float(score), 4),
                (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            )
            for box, score, class_id in zip(found.boxes, found.scores, found.class_ids, strict=True)
        ]
    return out
