"""The drive's CAN database and the frames the vehicle bus carries, encoded with cantools.

The same frames go into the MDF4 bus log and the ROS 2 ``can_msgs/msg/Frame`` topic, so an
extractor that decodes either with the DBC gets the signals of :mod:`route` back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from cantools.database.can import Database, Message, Node, Signal
from cantools.database.conversion import BaseConversion

from avops.sample_drive.route import Drive

__all__ = ["CAN_RATE_HZ", "CanFrame", "build_database", "can_frames"]

CAN_RATE_HZ = 50
VEHICLE_DYNAMICS_ID = 0x101
BRAKE_ID = 0x120
STEERING_ID = 0x130


@dataclass(frozen=True)
class CanFrame:
    """One classic CAN data frame at drive time ``t``."""

    t: float
    frame_id: int
    data: bytes


def _signal(
    name: str,
    start: int,
    length: int,
    *,
    scale: float,
    offset: float = 0.0,
    signed: bool = False,
    unit: str,
    minimum: float,
    maximum: float,
    comment: str,
) -> Signal:
    return Signal(
        name,
        start,
        length,
        is_signed=signed,
        conversion=BaseConversion.factory(scale=scale, offset=offset),
        minimum=minimum,
        maximum=maximum,
        unit=unit,
        comment=comment,
        receivers=["Logger"],
    )


def build_database() -> Database:
    """Three little-endian messages: vehicle dynamics, brake, steering (50 Hz each)."""
    dynamics = Message(
        VEHICLE_DYNAMICS_ID,
        "VehicleDynamics",
        8,
        [
            _signal(
                "VehicleSpeed",
                0,
                16,
                scale=0.01,
                unit="km/h",
                minimum=0,
                maximum=655.35,
                comment="Vehicle speed from the wheel speeds",
            ),
            _signal(
                "YawRate",
                16,
                16,
                scale=0.01,
                signed=True,
                unit="deg/s",
                minimum=-327.68,
                maximum=327.67,
                comment="Yaw rate, positive counter-clockwise",
            ),
            _signal(
                "LongAccel",
                32,
                16,
                scale=0.001,
                signed=True,
                unit="m/s^2",
                minimum=-32.768,
                maximum=32.767,
                comment="Longitudinal acceleration",
            ),
            _signal(
                "LatAccel",
                48,
                16,
                scale=0.001,
                signed=True,
                unit="m/s^2",
                minimum=-32.768,
                maximum=32.767,
                comment="Lateral acceleration, positive to the left",
            ),
        ],
        senders=["ESC"],
        cycle_time=1000 // CAN_RATE_HZ,
        comment="Vehicle dynamics from the stability control unit",
    )
    brake = Message(
        BRAKE_ID,
        "Brake",
        8,
        [
            _signal(
                "BrakePressure",
                0,
                16,
                scale=0.1,
                unit="bar",
                minimum=0,
                maximum=250,
                comment="Master cylinder pressure",
            ),
            _signal(
                "BrakePedalPressed",
                16,
                1,
                scale=1,
                unit="",
                minimum=0,
                maximum=1,
                comment="Brake pedal switch",
            ),
        ],
        senders=["ESC"],
        cycle_time=1000 // CAN_RATE_HZ,
        comment="Brake system state",
    )
    steering = Message(
        STEERING_ID,
        "Steering",
        8,
        [
            _signal(
                "SteeringWheelAngle",
                0,
                16,
                scale=0.1,
                signed=True,
                unit="deg",
                minimum=-780,
                maximum=780,
                comment="Steering wheel angle, positive left",
            ),
        ],
        senders=["EPS"],
        cycle_time=1000 // CAN_RATE_HZ,
        comment="Electric power steering",
    )
    nodes = [Node("ESC", "Stability control"), Node("EPS", "Power steering"), Node("Logger", "")]
    return Database(messages=[dynamics, brake, steering], nodes=nodes, version="1.0")


def can_frames(drive: Drive, database: Database) -> Iterator[CanFrame]:
    """Every bus frame of the drive in time order; the three messages are staggered by 2 ms."""
    period = 1.0 / CAN_RATE_HZ
    times = np.arange(0.0, drive.duration, period)
    kmh = drive.at(drive.speed, times) * 3.6
    yaw = np.degrees(drive.at(drive.yaw_rate, times))
    along = drive.at(drive.accel_long, times)
    alat = drive.at(drive.accel_lat, times)
    brake = drive.at(drive.brake_pressure, times)
    steer = drive.at(drive.steering_angle, times)
    dynamics = database.get_message_by_frame_id(VEHICLE_DYNAMICS_ID)
    brake_msg = database.get_message_by_frame_id(BRAKE_ID)
    steering = database.get_message_by_frame_id(STEERING_ID)
    for i, t in enumerate(times):
        yield CanFrame(
            round(float(t), 6),
            VEHICLE_DYNAMICS_ID,
            dynamics.encode(
                {
                    "VehicleSpeed": float(kmh[i]),
                    "YawRate": float(yaw[i]),
                    "LongAccel": float(along[i]),
                    "LatAccel": float(alat[i]),
                }
            ),
        )
        yield CanFrame(
            round(float(t) + 0.002, 6),
            BRAKE_ID,
            brake_msg.encode(
                {"BrakePressure": float(brake[i]), "BrakePedalPressed": int(brake[i] > 1.0)}
            ),
        )
        yield CanFrame(
            round(float(t) + 0.004, 6),
            STEERING_ID,
            steering.encode({"SteeringWheelAngle": float(steer[i])}),
        )
