"""The drive's CAN database and the frames the vehicle bus carries, encoded with cantools.

The same frames go into the MDF4 bus log and the ROS 2 ``can_msgs/msg/Frame`` topic, so an
extractor that decodes either with the DBC gets the signals of :mod:`route` back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

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


class _SignalSpec(NamedTuple):
    """One signal: little-endian, unsigned unless it can go negative."""

    name: str
    length: int
    scale: float
    unit: str
    minimum: float
    maximum: float
    comment: str

    def signal(self, start: int) -> Signal:
        return Signal(
            self.name,
            start,
            self.length,
            is_signed=self.minimum < 0,
            conversion=BaseConversion.factory(scale=self.scale, offset=0.0),
            minimum=self.minimum,
            maximum=self.maximum,
            unit=self.unit,
            comment=self.comment,
            receivers=["Logger"],
        )


def _message(
    frame_id: int, name: str, sender: str, comment: str, signals: tuple[_SignalSpec, ...]
) -> Message:
    """An 8-byte message at ``CAN_RATE_HZ``; its signals packed in order from bit 0."""
    starts = accumulate((spec.length for spec in signals), initial=0)
    return Message(
        frame_id,
        name,
        8,
        [spec.signal(start) for spec, start in zip(signals, starts, strict=False)],
        senders=[sender],
        cycle_time=1000 // CAN_RATE_HZ,
        comment=comment,
    )


_S = _SignalSpec
# name, bits, scale, unit, minimum, maximum, comment
_DYNAMICS = (
    _S("VehicleSpeed", 16, 0.01, "km/h", 0, 655.35, "Vehicle speed from the wheel speeds"),
    _S("YawRate", 16, 0.01, "deg/s", -327.68, 327.67, "Yaw rate, positive counter-clockwise"),
    _S("LongAccel", 16, 0.001, "m/s^2", -32.768, 32.767, "Longitudinal acceleration"),
    _S(
        "LatAccel",
        16,
        0.001,
        "m/s^2",
        -32.768,
        32.767,
        "Lateral acceleration, positive to the left",
    ),
)
_BRAKE = (
    _S("BrakePressure", 16, 0.1, "bar", 0, 250, "Master cylinder pressure"),
    _S("BrakePedalPressed", 1, 1, "", 0, 1, "Brake pedal switch"),
)
_STEERING = (
    _S("SteeringWheelAngle", 16, 0.1, "deg", -780, 780, "Steering wheel angle, positive left"),
)


def build_database() -> Database:
    """Three little-endian messages: vehicle dynamics, brake, steering (50 Hz each)."""
    messages = [
        _message(
            VEHICLE_DYNAMICS_ID,
            "VehicleDynamics",
            "ESC",
            "Vehicle dynamics from the stability control unit",
            _DYNAMICS,
        ),
        _message(BRAKE_ID, "Brake", "ESC", "Brake system state", _BRAKE),
        _message(STEERING_ID, "Steering", "EPS", "Electric power steering", _STEERING),
    ]
    nodes = [Node("ESC", "Stability control"), Node("EPS", "Power steering"), Node("Logger", "")]
    return Database(messages=messages, nodes=nodes, version="1.0")


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
