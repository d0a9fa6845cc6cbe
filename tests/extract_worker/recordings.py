"""Small recordings written with the libraries' own writers into tmp_path (no binary blobs)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from mcap.writer import CompressionType, IndexType
from mcap.writer import Writer as McapWriter
from PIL import Image
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from avops.sample_drive.msgtypes import CAN_FRAME, CAN_FRAME_DEFINITION

# A custom type with nested arrays of messages, to exercise flattening.
TRACK_LIST_MSG = """std_msgs/Header header
Track[] tracks
string source
float32[] scores
"""
TRACK_MSG = """uint32 id
geometry_msgs/Point position
string label
"""

FRAMES = 6
IMAGE_W, IMAGE_H = 64, 48
POINTS = 100
BASE_NS = 1_700_000_000 * 1_000_000_000
STEP_NS = 100_000_000  # 10 Hz


def typestore_for(ros1: bool) -> Typestore:
    """Distro typestore plus the custom types the fixtures use."""
    store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
    types: dict[str, Any] = {}
    types.update(get_types_from_msg(CAN_FRAME_DEFINITION, CAN_FRAME))
    types.update(get_types_from_msg(TRACK_MSG, "demo_msgs/msg/Track"))
    types.update(get_types_from_msg(TRACK_LIST_MSG, "demo_msgs/msg/TrackList"))
    store.register(types)
    return store


def _header(store: Typestore, ros1: bool, i: int, frame_id: str) -> Any:
    t = store.types
    stamp = t["builtin_interfaces/msg/Time"](sec=1_700_000_000 + i // 10, nanosec=(i % 10) * 10**8)
    if ros1:
        return t["std_msgs/msg/Header"](seq=i, stamp=stamp, frame_id=frame_id)
    return t["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def jpeg_bytes(width: int = IMAGE_W, height: int = IMAGE_H, shade: int = 0) -> bytes:
    """A small real JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 100, 200)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def messages(store: Typestore, ros1: bool, i: int) -> dict[str, tuple[str, Any]]:
    """One message per fixture topic for step ``i``."""
    t = store.types
    vec = t["geometry_msgs/msg/Vector3"]
    pixels = np.arange(IMAGE_W * IMAGE_H * 3, dtype=np.uint32).astype(np.uint8) + i
    point_fields = [
        t["sensor_msgs/msg/PointField"](name=n, offset=4 * k, datatype=7, count=1)
        for k, n in enumerate(("x", "y", "z", "intensity"))
    ]
    cloud = np.arange(POINTS * 4, dtype=np.float32).reshape(POINTS, 4) + i
    can_data = np.array([i, 1, 2, 3, 4, 5, 6, 7], dtype=np.uint8)

    def point_cloud(frame_id: str) -> Any:
        # Lidar and radar share one cloud layout; only the sensor frame differs.
        return t["sensor_msgs/msg/PointCloud2"](
            header=_header(store, ros1, i, frame_id),
            height=1,
            width=POINTS,
            fields=point_fields,
            is_bigendian=False,
            point_step=16,
            row_step=16 * POINTS,
            data=cloud.view(np.uint8).reshape(-1),
            is_dense=True,
        )

    return {
        "/gps/fix": (
            "sensor_msgs/msg/NavSatFix",
            t["sensor_msgs/msg/NavSatFix"](
                header=_header(store, ros1, i, "gps"),
                status=t["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
                latitude=48.0 + i * 1e-5,
                longitude=11.0 + i * 1e-5,
                altitude=500.0,
                position_covariance=np.zeros(9, np.float64),
                position_covariance_type=0,
            ),
        ),
        "/imu/data": (
            "sensor_msgs/msg/Imu",
            t["sensor_msgs/msg/Imu"](
                header=_header(store, ros1, i, "imu"),
                orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
                orientation_covariance=np.zeros(9, np.float64),
                angular_velocity=vec(x=0.1 * i, y=0.0, z=0.0),
                angular_velocity_covariance=np.zeros(9, np.float64),
                linear_acceleration=vec(x=0.0, y=0.0, z=9.81),
                linear_acceleration_covariance=np.zeros(9, np.float64),
            ),
        ),
        "/camera/front/image_raw": (
            "sensor_msgs/msg/Image",
            t["sensor_msgs/msg/Image"](
                header=_header(store, ros1, i, "camera_front"),
                height=IMAGE_H,
                width=IMAGE_W,
                encoding="rgb8",
                is_bigendian=0,
                step=IMAGE_W * 3,
                data=pixels,
            ),
        ),
        "/camera/rear/compressed": (
            "sensor_msgs/msg/CompressedImage",
            t["sensor_msgs/msg/CompressedImage"](
                header=_header(store, ros1, i, "camera_rear"),
                format="jpeg",
                data=np.frombuffer(jpeg_bytes(shade=i), np.uint8),
            ),
        ),
        "/lidar/top/points": ("sensor_msgs/msg/PointCloud2", point_cloud("lidar_top")),
        "/radar/front/points": ("sensor_msgs/msg/PointCloud2", point_cloud("radar_front")),
        "/can/raw": (
            "can_msgs/msg/Frame",
            t["can_msgs/msg/Frame"](
                header=_header(store, ros1, i, "can0"),
                id=0x100 + (i % 2),
                is_rtr=False,
                is_extended=False,
                is_error=False,
                dlc=8,
                data=can_data,
            ),
        ),
        "/tracks": (
            "demo_msgs/msg/TrackList",
            t["demo_msgs/msg/TrackList"](
                header=_header(store, ros1, i, "base_link"),
                tracks=[
                    t["demo_msgs/msg/Track"](
                        id=k,
                        position=t["geometry_msgs/msg/Point"](x=float(k), y=1.0, z=0.0),
                        label="car",
                    )
                    for k in range(i % 3)
                ],
                source="fusion",
                scores=np.arange(i % 4, dtype=np.float32),
            ),
        ),
        "/status": ("std_msgs/msg/String", t["std_msgs/msg/String"](data=f"ok {i}")),
    }


def write_ros1(path: Path, *, compression: str | None = None, frames: int = FRAMES) -> Path:
    """A ROS 1 bag with every fixture topic; ``compression`` is ``bz2``, ``lz4`` or None."""
    store = typestore_for(ros1=True)
    writer = Writer1(path)
    if compression:
        writer.set_compression(getattr(Writer1.CompressionFormat, compression.upper()))
    with writer:
        conns: dict[str, Any] = {}
        for i in range(frames):
            for topic, (msgtype, msg) in messages(store, True, i).items():
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
                writer.write(
                    conns[topic], BASE_NS + i * STEP_NS, store.serialize_ros1(msg, msgtype)
                )
    return path


def write_ros2(path: Path, *, storage: str = "sqlite3", frames: int = FRAMES) -> Path:
    """A ROS 2 bag directory (``sqlite3`` or ``mcap`` storage) with every fixture topic."""
    store = typestore_for(ros1=False)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer2(path, version=9, storage_plugin=plugin) as writer:
        conns: dict[str, Any] = {}
        for i in range(frames):
            for topic, (msgtype, msg) in messages(store, False, i).items():
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
                writer.write(conns[topic], BASE_NS + i * STEP_NS, store.serialize_cdr(msg, msgtype))
    return path


def write_mcap(
    path: Path,
    *,
    frames: int = FRAMES,
    compression: str = "zstd",
    chunk_size: int = 1 << 20,
    ros1: bool = False,
    counted: bool = True,
) -> Path:
    """A bare MCAP file written with the mcap library (chunk CRCs on): the ros2 profile (CDR),
    or with ``ros1`` the ros1 profile (ROS 1 serialization, ``ros1msg`` schemas). Without
    ``counted``: no statistics and no message indexes (a chunk index only), so readers count
    by reading the chunks."""
    store = typestore_for(ros1=ros1)
    with path.open("wb") as f:
        writer = McapWriter(
            f,
            compression=CompressionType[compression.upper()],
            chunk_size=chunk_size,
            index_types=IndexType.ALL if counted else IndexType.CHUNK,
            use_statistics=counted,
        )
        writer.start(profile="ros1" if ros1 else "ros2", library="avops-tests")
        channels: dict[str, int] = {}
        for i in range(frames):
            for topic, (msgtype, msg) in messages(store, ros1, i).items():
                if topic not in channels:
                    msgdef, _ = store.generate_msgdef(msgtype, ros_version=1 if ros1 else 2)
                    name = msgtype.replace("/msg/", "/") if ros1 else msgtype
                    schema = writer.register_schema(
                        name, "ros1msg" if ros1 else "ros2msg", msgdef.encode()
                    )
                    channels[topic] = writer.register_channel(
                        topic, "ros1" if ros1 else "cdr", schema
                    )
                time_ns = BASE_NS + i * STEP_NS
                data = (
                    store.serialize_ros1(msg, msgtype)
                    if ros1
                    else store.serialize_cdr(msg, msgtype)
                )
                writer.add_message(channels[topic], time_ns, data, time_ns)
        writer.finish()
    return path


_WRITERS: dict[str, Any] = {
    "ros1": lambda tmp: write_ros1(tmp / "drive.bag"),
    "ros1-bz2": lambda tmp: write_ros1(tmp / "drive.bag", compression="bz2"),
    "ros1-lz4": lambda tmp: write_ros1(tmp / "drive.bag", compression="lz4"),
    "ros2-sqlite3": lambda tmp: write_ros2(tmp / "drive_db3"),
    "ros2-mcap": lambda tmp: write_ros2(tmp / "drive_mcap", storage="mcap"),
    "mcap": lambda tmp: write_mcap(tmp / "drive.mcap"),
    "mcap-ros1": lambda tmp: write_mcap(tmp / "drive.mcap", ros1=True),
}


def write_recording(fmt: str, tmp_path: Path) -> Path:
    """Write the fixture recording of ``fmt`` (the parametrize ids of the shared suite)."""
    if fmt not in _WRITERS:
        raise ValueError(fmt)
    path: Path = _WRITERS[fmt](tmp_path)
    return path


ROS_FORMATS = list(_WRITERS)
