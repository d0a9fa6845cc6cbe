"""MCAP files of Foxglove's sensor schemas (camera, point cloud) in protobuf and JSON encoding,
plus channels the worker cannot decode (flatbuffer) and schemaless JSON.

Written here with the mcap writer; protobuf messages use Foxglove's own compiled schemas, JSON
messages follow Foxglove's JSON schemas (bytes as base64 text, time as sec/nsec).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import numpy as np
from mcap.writer import Writer as McapWriter
from mcap_protobuf.schema import build_file_descriptor_set

from tests.extract_worker.recordings import IMAGE_H, IMAGE_W, jpeg_bytes

if TYPE_CHECKING:
    from pathlib import Path

BASE_NS = 1_700_000_000 * 1_000_000_000
STEP_NS = 100_000_000
FRAMES = 4
POINTS = 50
FLOAT32 = 7  # foxglove.NumericType.FLOAT32

_TIME = {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}}}
_BYTES = {"type": "string", "contentEncoding": "base64"}
_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}


def _stamped(**properties: Any) -> dict[str, Any]:
    """The JSON schema of a Foxglove message: its timestamp and frame id, then ``properties``."""
    return {
        "type": "object",
        "properties": {"timestamp": _TIME, "frame_id": _STRING, **properties},
    }


JSON_SCHEMAS: dict[str, dict[str, Any]] = {
    "foxglove.CompressedImage": _stamped(data=_BYTES, format=_STRING),
    "foxglove.RawImage": _stamped(
        width=_INTEGER, height=_INTEGER, encoding=_STRING, step=_INTEGER, data=_BYTES
    ),
    "foxglove.PointCloud": _stamped(
        pose={"type": "object"},
        point_stride=_INTEGER,
        fields={
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": _STRING, "offset": _INTEGER, "type": _INTEGER},
            },
        },
        data=_BYTES,
    ),
}


def pixels(i: int) -> bytes:
    """Frame ``i`` of the raw camera: rgb8 pixels."""
    return (np.arange(IMAGE_W * IMAGE_H * 3, dtype=np.uint32).astype(np.uint8) + i).tobytes()


def points(i: int) -> np.ndarray[Any, Any]:
    """Frame ``i`` of the point cloud: x, y, z, intensity as float32 columns."""
    return np.arange(POINTS * 4, dtype=np.float32).reshape(POINTS, 4) + i


def _fields() -> list[tuple[str, int]]:
    return [(name, 4 * k) for k, name in enumerate(("x", "y", "z", "intensity"))]


def _protobuf(topic: str, i: int, time_ns: int) -> tuple[Any, bytes]:
    from foxglove_schemas_protobuf.CompressedImage_pb2 import CompressedImage
    from foxglove_schemas_protobuf.PackedElementField_pb2 import PackedElementField
    from foxglove_schemas_protobuf.PointCloud_pb2 import PointCloud
    from foxglove_schemas_protobuf.RawImage_pb2 import RawImage
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp(seconds=time_ns // 10**9, nanos=time_ns % 10**9)
    message: Any
    if topic == "/camera/compressed":
        message = CompressedImage(
            timestamp=stamp, frame_id="cam", data=jpeg_bytes(shade=i), format="jpeg"
        )
    elif topic == "/camera/raw":
        message = RawImage(
            timestamp=stamp,
            frame_id="cam",
            width=IMAGE_W,
            height=IMAGE_H,
            encoding="rgb8",
            step=IMAGE_W * 3,
            data=pixels(i),
        )
    else:
        message = PointCloud(
            timestamp=stamp,
            frame_id="lidar",
            point_stride=16,
            fields=[PackedElementField(name=n, offset=o, type=FLOAT32) for n, o in _fields()],
            data=points(i).tobytes(),
        )
    return type(message), message.SerializeToString()


def _json(topic: str, i: int, time_ns: int) -> tuple[str, bytes]:
    stamp = {"sec": time_ns // 10**9, "nsec": time_ns % 10**9}
    if topic == "/camera/compressed":
        name = "foxglove.CompressedImage"
        body: dict[str, Any] = {
            "data": base64.b64encode(jpeg_bytes(shade=i)).decode(),
            "format": "jpeg",
        }
    elif topic == "/camera/raw":
        name = "foxglove.RawImage"
        body = {
            "width": IMAGE_W,
            "height": IMAGE_H,
            "encoding": "rgb8",
            "step": IMAGE_W * 3,
            "data": base64.b64encode(pixels(i)).decode(),
        }
    else:
        name = "foxglove.PointCloud"
        body = {
            "point_stride": 16,
            "fields": [{"name": n, "offset": o, "type": FLOAT32} for n, o in _fields()],
            "data": base64.b64encode(points(i).tobytes()).decode(),
            "pose": {"position": {"x": 0, "y": 0, "z": 0}},
        }
    return name, json.dumps({"timestamp": stamp, "frame_id": "sensor", **body}).encode()


SENSOR_TOPICS = ("/camera/compressed", "/camera/raw", "/lidar/points")


def write_foxglove_sensors(path: Path, encoding: str) -> Path:
    """Camera (compressed, raw) and point cloud topics in ``protobuf`` or ``json``, plus a
    flatbuffer channel and a schemaless JSON channel."""
    with path.open("wb") as f:
        writer = McapWriter(f, chunk_size=4096)
        writer.start(profile="", library="avops-tests")
        channels: dict[str, int] = {}
        for i in range(FRAMES):
            time_ns = BASE_NS + i * STEP_NS
            for topic in SENSOR_TOPICS:
                if encoding == "protobuf":
                    cls, data = _protobuf(topic, i, time_ns)
                    if topic not in channels:
                        fds = build_file_descriptor_set(cls).SerializeToString()
                        schema = writer.register_schema(cls.DESCRIPTOR.full_name, "protobuf", fds)
                        channels[topic] = writer.register_channel(topic, "protobuf", schema)
                else:
                    name, data = _json(topic, i, time_ns)
                    if topic not in channels:
                        text = json.dumps(JSON_SCHEMAS[name]).encode()
                        schema = writer.register_schema(name, "jsonschema", text)
                        channels[topic] = writer.register_channel(topic, "json", schema)
                writer.add_message(channels[topic], time_ns, data, time_ns)
            if "/flat" not in channels:
                schema = writer.register_schema("demo.Flat", "flatbuffer", b"\x00" * 8)
                channels["/flat"] = writer.register_channel("/flat", "flatbuffer", schema)
                channels["/events"] = writer.register_channel("/events", "json", 0)
            writer.add_message(channels["/flat"], time_ns, b"\x00" * 8, time_ns)
            event = json.dumps({"kind": "tick", "n": i}).encode()
            writer.add_message(channels["/events"], time_ns, event, time_ns)
        writer.finish()
    return path
