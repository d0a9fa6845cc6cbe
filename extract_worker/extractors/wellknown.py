"""Well-known non-ROS schemas in the shape of their ROS counterparts, for the same writers.

Foxglove's schemas (in protobuf or JSON encoding) carry what sensor_msgs carries under other
names: ``timestamp`` instead of ``header.stamp``, ``point_stride`` instead of ``point_step``,
base64 text instead of bytes in JSON. The camera and point cloud handlers read ROS field
names; :func:`ros_shaped` gives them a view with those names, so one writer serves both.
"""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["COMPRESSED_IMAGE_TYPES", "ros_shaped"]

COMPRESSED_IMAGE_TYPES = frozenset({"sensor_msgs/msg/CompressedImage", "foxglove.CompressedImage"})
# foxglove.NumericType -> sensor_msgs/PointField datatype
_NUMERIC_TO_POINTFIELD = {1: 2, 2: 1, 3: 4, 4: 3, 5: 6, 6: 5, 7: 7, 8: 8}


def _bytes(value: Any) -> Any:
    """Bytes of a bytes field: protobuf gives bytes, JSON gives base64 text."""
    if isinstance(value, str):
        return base64.b64decode(value)
    return value if value is not None else b""


def _header(message: Any) -> SimpleNamespace:
    """A ROS-like header from a Foxglove ``timestamp`` (protobuf Timestamp or JSON sec/nsec)."""
    stamp = getattr(message, "timestamp", None)
    sec = getattr(stamp, "seconds", None)
    if sec is None:
        sec = getattr(stamp, "sec", 0)
    nanos = getattr(stamp, "nanos", None)
    if nanos is None:
        nanos = getattr(stamp, "nsec", 0)
    return SimpleNamespace(
        stamp=SimpleNamespace(sec=int(sec or 0), nanosec=int(nanos or 0)),
        frame_id=str(getattr(message, "frame_id", "") or ""),
    )


def _compressed_image(message: Any) -> Any:
    return SimpleNamespace(
        header=_header(message), format=str(message.format or ""), data=_bytes(message.data)
    )


def _raw_image(message: Any) -> Any:
    return SimpleNamespace(
        header=_header(message),
        width=int(message.width),
        height=int(message.height),
        encoding=str(message.encoding),
        step=int(message.step),
        is_bigendian=0,
        data=_bytes(message.data),
    )


def _point_cloud(message: Any) -> Any:
    data = np.frombuffer(_bytes(message.data), np.uint8)
    stride = int(message.point_stride)
    fields = [
        SimpleNamespace(
            name=str(f.name),
            offset=int(f.offset),
            # An unknown numeric type maps to 0, which the point layout rejects by name.
            datatype=_NUMERIC_TO_POINTFIELD.get(int(f.type or 0), 0),
            count=1,
        )
        for f in message.fields
    ]
    return SimpleNamespace(
        header=_header(message),
        fields=fields,
        point_step=stride,
        width=len(data) // stride if stride else 0,
        height=1,
        is_bigendian=False,
        data=data,
    )


_ADAPTERS: dict[str, Callable[[Any], Any]] = {
    "foxglove.CompressedImage": _compressed_image,
    "foxglove.RawImage": _raw_image,
    "foxglove.PointCloud": _point_cloud,
}


def _same(message: Any) -> Any:
    return message


def ros_shaped(msgtype: str) -> Callable[[Any], Any]:
    """A function giving messages of ``msgtype`` their ROS field names (identity for ROS)."""
    return _ADAPTERS.get(msgtype, _same)
