"""The ROS 1 bag: the legacy logger's subset (GPS, IMU, a small JPEG camera, speed), LZ4 chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rosbags.rosbag1 import Writer
from rosbags.typesys.store import Typestore

from avops.sample_drive import rosmsgs
from avops.sample_drive.camera import CameraModel, render_frame
from avops.sample_drive.msgtypes import ros1_typestore
from avops.sample_drive.profiles import Profile
from avops.sample_drive.ros2 import (
    GPS_ALTITUDE_M,
    GPS_SIGMA_M,
    gps_fixes,
    imu_samples,
    speed_messages,
    ticks,
    write_in_time_order,
)
from avops.sample_drive.route import Drive

__all__ = ["ROS1_CAMERA_RATE_HZ", "ROS1_TOPICS", "write_ros1_bag"]

ROS1_CAMERA_RATE_HZ = 5

ROS1_TOPICS: dict[str, str] = {
    "/camera/front/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
    "/gps/fix": "sensor_msgs/msg/NavSatFix",
    "/imu/data": "sensor_msgs/msg/Imu",
    "/vehicle/speed": "std_msgs/msg/Float32",
}

Message = tuple[int, str, Any]


def _camera(drive: Drive, ts: Typestore, profile: Profile) -> Iterator[Message]:
    # The legacy logger records the front camera at half resolution and half rate.
    camera = CameraModel(profile.camera_width // 2, profile.camera_height // 2)
    for k, t in ticks(drive, ROS1_CAMERA_RATE_HZ):
        stamp = drive.stamp_ns(t)
        pixels, _ = render_frame(drive, t, camera)
        jpeg = rosmsgs.encode_jpeg(pixels, profile.jpeg_quality)
        msg = rosmsgs.compressed_image(ts, stamp, "camera_front", jpeg)
        msg.header.seq = k
        yield stamp, "/camera/front/image_raw/compressed", msg


def _gps(drive: Drive, ts: Typestore, seed: int) -> Iterator[Message]:
    # Same receiver, same noise as the ROS 2 bag: both loggers saw the same fixes.
    for k, (t, lat, lon) in enumerate(gps_fixes(drive, seed)):
        stamp = drive.stamp_ns(t)
        msg = rosmsgs.navsatfix(
            ts, stamp, lat=lat, lon=lon, alt=GPS_ALTITUDE_M, sigma_m=GPS_SIGMA_M
        )
        msg.header.seq = k
        yield stamp, "/gps/fix", msg


def _imu(drive: Drive, ts: Typestore, seed: int) -> Iterator[Message]:
    for k, (t, heading, yaw_rate, along, alat) in enumerate(imu_samples(drive, seed)):
        stamp = drive.stamp_ns(t)
        msg = rosmsgs.imu(
            ts, stamp, heading=heading, yaw_rate=yaw_rate, accel_long=along, accel_lat=alat
        )
        msg.header.seq = k
        yield stamp, "/imu/data", msg


def write_ros1_bag(path: Path, drive: Drive, profile: Profile, seed: int) -> dict[str, int]:
    """Write the ``.bag`` file; return the message count per topic."""
    ts = ros1_typestore()
    writer = Writer(path)
    # LZ4 rather than BZ2: rosbag's faster codec, and what `rosbag record --lz4` loggers produce.
    writer.set_compression(Writer.CompressionFormat.LZ4)
    with writer:
        connections = {
            topic: writer.add_connection(topic, msgtype, typestore=ts, callerid="/legacy_logger")
            for topic, msgtype in ROS1_TOPICS.items()
        }
        streams = [
            _camera(drive, ts, profile),
            _gps(drive, ts, seed),
            _imu(drive, ts, seed),
            speed_messages(drive, ts),
        ]
        return write_in_time_order(
            streams,
            lambda stamp, topic, message: writer.write(
                connections[topic], stamp, ts.serialize_ros1(message, ROS1_TOPICS[topic])
            ),
            ROS1_TOPICS,
        )
