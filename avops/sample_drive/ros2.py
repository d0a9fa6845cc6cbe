"""The ROS 2 bag (MCAP storage): cameras, detections, lidar, radar, GPS, IMU, CAN and speed.

Messages come from lazy per-topic generators merged by timestamp, so a ``large`` drive streams
through the writer (which flushes 1 MiB chunks) without holding frames in memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from avops.sample_drive import rosmsgs
from avops.sample_drive.camera import CameraModel, render_frame
from avops.sample_drive.dbc import CanFrame
from avops.sample_drive.msgtypes import CAN_FRAME, DETECTION_ARRAY, ros2_typestore
from avops.sample_drive.pointclouds import lidar_scan, radar_targets
from avops.sample_drive.profiles import Profile
from avops.sample_drive.route import Drive

__all__ = ["CAMERA_RATE_HZ", "TOPICS", "write_in_time_order", "write_ros2_bag"]

CAMERA_RATE_HZ = 10
LIDAR_RATE_HZ = 10
RADAR_RATE_HZ = 20
GPS_RATE_HZ = 10
IMU_RATE_HZ = 100
SPEED_RATE_HZ = 50
GPS_SIGMA_M = 0.15
GPS_ALTITUDE_M = 12.0
RADAR_DTYPE = np.dtype(
    [(name, "<f4") for name in ("x", "y", "z", "range", "azimuth", "velocity", "rcs")]
)

# topic -> message type; the order is the tie-break order for equal timestamps.
TOPICS: dict[str, str] = {
    "/camera/front/image_raw": "sensor_msgs/msg/Image",
    "/camera/front/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
    "/perception/detections": DETECTION_ARRAY,
    "/lidar/points": "sensor_msgs/msg/PointCloud2",
    "/radar/front/targets": "sensor_msgs/msg/PointCloud2",
    "/gps/fix": "sensor_msgs/msg/NavSatFix",
    "/imu/data": "sensor_msgs/msg/Imu",
    "/can/rx": CAN_FRAME,
    "/vehicle/speed": "std_msgs/msg/Float32",
}

Message = tuple[int, str, Any]  # (timestamp ns, topic, message object)


def ticks(drive: Drive, rate_hz: int, phase: float = 0.0) -> Iterator[tuple[int, float]]:
    """(index, drive time) of a periodic sensor inside the recording."""
    count = round((drive.duration - phase) * rate_hz)
    for k in range(count):
        yield k, round(phase + k / rate_hz, 6)


def _camera(drive: Drive, ts: Typestore, profile: Profile) -> Iterator[Message]:
    camera = CameraModel(profile.camera_width, profile.camera_height)
    for _, t in ticks(drive, CAMERA_RATE_HZ):
        stamp = drive.stamp_ns(t)
        pixels, boxes = render_frame(drive, t, camera)
        yield stamp, "/camera/front/image_raw", rosmsgs.image(ts, stamp, "camera_front", pixels)
        jpeg = rosmsgs.encode_jpeg(pixels, profile.jpeg_quality)
        yield (
            stamp,
            "/camera/front/image_raw/compressed",
            rosmsgs.compressed_image(ts, stamp, "camera_front", jpeg),
        )
        yield stamp, "/perception/detections", rosmsgs.detections(ts, stamp, "camera_front", boxes)


def _lidar(drive: Drive, ts: Typestore, profile: Profile, seed: int) -> Iterator[Message]:
    rng = np.random.default_rng([seed, 1])
    # Half a period after the camera: the spinning lidar faces forward between two frames.
    for _, t in ticks(drive, LIDAR_RATE_HZ, phase=0.05):
        stamp = drive.stamp_ns(t)
        cloud = lidar_scan(drive, t, profile.lidar, rng)
        yield (
            stamp,
            "/lidar/points",
            rosmsgs.pointcloud(ts, stamp, "lidar_top", cloud, profile.lidar.rings),
        )


def _radar(drive: Drive, ts: Typestore, seed: int) -> Iterator[Message]:
    rng = np.random.default_rng([seed, 2])
    for _, t in ticks(drive, RADAR_RATE_HZ, phase=0.01):
        stamp = drive.stamp_ns(t)
        targets = radar_targets(drive, t, rng)
        points = np.zeros(len(targets.range), dtype=RADAR_DTYPE)
        for name in ("x", "y", "range", "azimuth", "velocity", "rcs"):
            points[name] = getattr(targets, name)
        yield stamp, "/radar/front/targets", rosmsgs.pointcloud(ts, stamp, "radar_front", points)


def gps_fixes(drive: Drive, seed: int) -> Iterator[tuple[float, float, float]]:
    """(drive time, lat, lon) of each GPS fix, with the receiver's seeded noise."""
    rng = np.random.default_rng([seed, 3])
    deg_per_m = 1.0 / 111_320.0
    for _, t in ticks(drive, GPS_RATE_HZ):
        noise = rng.normal(0.0, GPS_SIGMA_M, 2) * deg_per_m
        yield t, float(drive.at(drive.lat, t) + noise[0]), float(drive.at(drive.lon, t) + noise[1])


def _gps(drive: Drive, ts: Typestore, seed: int) -> Iterator[Message]:
    for t, lat, lon in gps_fixes(drive, seed):
        stamp = drive.stamp_ns(t)
        yield (
            stamp,
            "/gps/fix",
            rosmsgs.navsatfix(ts, stamp, lat=lat, lon=lon, alt=GPS_ALTITUDE_M, sigma_m=GPS_SIGMA_M),
        )


def imu_samples(drive: Drive, seed: int) -> Iterator[tuple[float, float, float, float, float]]:
    """(drive time, heading, yaw rate, longitudinal, lateral acceleration) with sensor noise."""
    rng = np.random.default_rng([seed, 4])
    for _, t in ticks(drive, IMU_RATE_HZ):
        noise = rng.normal(0.0, [0.002, 0.03, 0.03])
        yield (
            t,
            float(drive.at(drive.heading, t)),
            float(drive.at(drive.yaw_rate, t) + noise[0]),
            float(drive.at(drive.accel_long, t) + noise[1]),
            float(drive.at(drive.accel_lat, t) + noise[2]),
        )


def _imu(drive: Drive, ts: Typestore, seed: int) -> Iterator[Message]:
    for t, heading, yaw_rate, along, alat in imu_samples(drive, seed):
        stamp = drive.stamp_ns(t)
        yield (
            stamp,
            "/imu/data",
            rosmsgs.imu(
                ts, stamp, heading=heading, yaw_rate=yaw_rate, accel_long=along, accel_lat=alat
            ),
        )


def _can(drive: Drive, ts: Typestore, frames: Iterable[CanFrame]) -> Iterator[Message]:
    cls = ts.types[CAN_FRAME]
    for frame in frames:
        stamp = drive.stamp_ns(frame.t)
        data = np.zeros(8, dtype=np.uint8)
        data[: len(frame.data)] = np.frombuffer(frame.data, dtype=np.uint8)
        yield (
            stamp,
            "/can/rx",
            cls(
                header=rosmsgs.header(ts, stamp, "can0"),
                id=frame.frame_id,
                is_rtr=False,
                is_extended=False,
                is_error=False,
                dlc=len(frame.data),
                data=data,
            ),
        )


def speed_messages(drive: Drive, ts: Typestore) -> Iterator[Message]:
    """``/vehicle/speed`` (std_msgs Float32, m/s) at SPEED_RATE_HZ: the same in both bag formats."""
    for _, t in ticks(drive, SPEED_RATE_HZ):
        yield (
            drive.stamp_ns(t),
            "/vehicle/speed",
            rosmsgs.float32(ts, float(drive.at(drive.speed, t))),
        )


def write_ros2_bag(
    path: Path,
    drive: Drive,
    profile: Profile,
    *,
    seed: int,
    frames: Iterable[CanFrame],
    on_frame: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Write the bag directory ``path``; return the message count per topic."""
    ts = ros2_typestore()
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    if profile.compress_mcap:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        connections = {
            topic: writer.add_connection(topic, msgtype, typestore=ts)
            for topic, msgtype in TOPICS.items()
        }
        streams = [
            _camera(drive, ts, profile),
            _lidar(drive, ts, profile, seed),
            _radar(drive, ts, seed),
            _gps(drive, ts, seed),
            _imu(drive, ts, seed),
            _can(drive, ts, frames),
            speed_messages(drive, ts),
        ]

        def write(stamp: int, topic: str, message: Any) -> None:
            writer.write(connections[topic], stamp, ts.serialize_cdr(message, TOPICS[topic]))
            if on_frame is not None and topic == "/camera/front/image_raw":
                on_frame()

        return write_in_time_order(streams, write, TOPICS)


def write_in_time_order(
    streams: Iterable[Iterator[Message]],
    write: Callable[[int, str, Any], None],
    topics: Iterable[str],
) -> dict[str, int]:
    """``write`` every message of the time-ordered ``streams``, all merged by time stamp (one
    message in memory per stream); return the message count per topic."""
    counts = dict.fromkeys(topics, 0)
    for stamp, topic, message in heapq.merge(*streams, key=lambda item: item[0]):
        write(stamp, topic, message)
        counts[topic] += 1
    return counts
