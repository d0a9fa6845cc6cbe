"""Builders for the ROS messages both bags carry; one code path for ROS 1 and ROS 2 typestores.

The two typestores differ only in ``std_msgs/Header`` (ROS 1 has ``seq``), so every builder takes
the typestore and asks it for the classes.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PilImage
from rosbags.typesys.store import Typestore

from avops.sample_drive.camera import Box

__all__ = [
    "compressed_image",
    "detections",
    "encode_jpeg",
    "float32",
    "header",
    "image",
    "imu",
    "navsatfix",
    "pointcloud",
]

GRAVITY = 9.80665
FLOAT32 = 7  # sensor_msgs/PointField FLOAT32
# sensor_msgs/NavSatStatus and NavSatFix constants (the generated classes carry them, but untyped).
STATUS_FIX = 0
SERVICE_GPS = 1
COVARIANCE_TYPE_DIAGONAL_KNOWN = 2


def _time(ts: Typestore, stamp_ns: int) -> Any:
    return ts.types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)


def header(ts: Typestore, stamp_ns: int, frame_id: str, seq: int = 0) -> Any:
    """A ``std_msgs/Header`` for either ROS version."""
    cls = ts.types["std_msgs/msg/Header"]
    if "seq" in getattr(cls, "__dataclass_fields__", {}):
        return cls(seq=seq, stamp=_time(ts, stamp_ns), frame_id=frame_id)
    return cls(stamp=_time(ts, stamp_ns), frame_id=frame_id)


def encode_jpeg(pixels: NDArray[np.uint8], quality: int) -> bytes:
    """JPEG bytes of an rgb8 array (pillow's encoder is deterministic for equal input)."""
    buffer = io.BytesIO()
    PilImage.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def image(ts: Typestore, stamp_ns: int, frame_id: str, pixels: NDArray[np.uint8]) -> Any:
    """``sensor_msgs/Image`` rgb8."""
    height, width, _ = pixels.shape
    return ts.types["sensor_msgs/msg/Image"](
        header=header(ts, stamp_ns, frame_id),
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=pixels.reshape(-1),
    )


def compressed_image(ts: Typestore, stamp_ns: int, frame_id: str, jpeg: bytes) -> Any:
    """``sensor_msgs/CompressedImage`` JPEG."""
    return ts.types["sensor_msgs/msg/CompressedImage"](
        header=header(ts, stamp_ns, frame_id),
        format="jpeg",
        data=np.frombuffer(jpeg, dtype=np.uint8),
    )


def pointcloud(
    ts: Typestore, stamp_ns: int, frame_id: str, points: NDArray[np.void], height: int = 1
) -> Any:
    """``sensor_msgs/PointCloud2`` of a structured array whose fields are all float32."""
    names = points.dtype.names or ()
    offsets = points.dtype.fields
    if offsets is None:
        raise TypeError("a point cloud needs a structured array")
    field_cls = ts.types["sensor_msgs/msg/PointField"]
    fields = [
        field_cls(name=name, offset=offsets[name][1], datatype=FLOAT32, count=1) for name in names
    ]
    width = len(points) // height if height else 0
    return ts.types["sensor_msgs/msg/PointCloud2"](
        header=header(ts, stamp_ns, frame_id),
        height=height,
        width=width,
        fields=fields,
        is_bigendian=False,
        point_step=points.dtype.itemsize,
        row_step=points.dtype.itemsize * width,
        data=np.frombuffer(points.tobytes(), dtype=np.uint8),
        is_dense=True,
    )


def navsatfix(
    ts: Typestore, stamp_ns: int, *, lat: float, lon: float, alt: float, sigma_m: float
) -> Any:
    """``sensor_msgs/NavSatFix`` with a diagonal covariance."""
    status_cls = ts.types["sensor_msgs/msg/NavSatStatus"]
    variance = sigma_m**2
    return ts.types["sensor_msgs/msg/NavSatFix"](
        header=header(ts, stamp_ns, "gps"),
        status=status_cls(status=STATUS_FIX, service=SERVICE_GPS),
        latitude=lat,
        longitude=lon,
        altitude=alt,
        position_covariance=np.array(
            [variance, 0, 0, 0, variance, 0, 0, 0, 4 * variance], dtype=np.float64
        ),
        position_covariance_type=COVARIANCE_TYPE_DIAGONAL_KNOWN,
    )


def imu(
    ts: Typestore,
    stamp_ns: int,
    *,
    heading: float,
    yaw_rate: float,
    accel_long: float,
    accel_lat: float,
) -> Any:
    """``sensor_msgs/Imu`` in the vehicle frame (x forward, y left, z up), ENU orientation."""
    vec = ts.types["geometry_msgs/msg/Vector3"]
    quat = ts.types["geometry_msgs/msg/Quaternion"]
    covariance = np.diag([1e-4, 1e-4, 1e-4]).reshape(-1).astype(np.float64)
    return ts.types["sensor_msgs/msg/Imu"](
        header=header(ts, stamp_ns, "imu"),
        orientation=quat(x=0.0, y=0.0, z=math.sin(heading / 2), w=math.cos(heading / 2)),
        orientation_covariance=covariance,
        angular_velocity=vec(x=0.0, y=0.0, z=yaw_rate),
        angular_velocity_covariance=covariance,
        linear_acceleration=vec(x=accel_long, y=accel_lat, z=GRAVITY),
        linear_acceleration_covariance=covariance,
    )


def float32(ts: Typestore, value: float) -> Any:
    """``std_msgs/Float32``."""
    return ts.types["std_msgs/msg/Float32"](data=value)


def detections(ts: Typestore, stamp_ns: int, frame_id: str, boxes: list[Box]) -> Any:
    """``vision_msgs/Detection2DArray``: one ``pedestrian`` hypothesis per box (may be empty)."""
    types = ts.types
    pose = types["geometry_msgs/msg/PoseWithCovariance"](
        pose=types["geometry_msgs/msg/Pose"](
            position=types["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
            orientation=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        ),
        covariance=np.zeros(36, dtype=np.float64),
    )
    items = []
    for box in boxes:
        u, v = box.center
        items.append(
            types["vision_msgs/msg/Detection2D"](
                header=header(ts, stamp_ns, frame_id),
                results=[
                    types["vision_msgs/msg/ObjectHypothesisWithPose"](
                        hypothesis=types["vision_msgs/msg/ObjectHypothesis"](
                            class_id="pedestrian", score=0.92
                        ),
                        pose=pose,
                    )
                ],
                bbox=types["vision_msgs/msg/BoundingBox2D"](
                    center=types["vision_msgs/msg/Pose2D"](
                        position=types["vision_msgs/msg/Point2D"](x=u, y=v), theta=0.0
                    ),
                    size_x=box.u_max - box.u_min,
                    size_y=box.v_max - box.v_min,
                ),
                id=box.pedestrian_id,
            )
        )
    return types["vision_msgs/msg/Detection2DArray"](
        header=header(ts, stamp_ns, frame_id), detections=items
    )
