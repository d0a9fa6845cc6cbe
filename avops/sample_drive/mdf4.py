"""The MDF4 measurement: 100 Hz vehicle signals and an ASAM bus-logging CAN channel group.

asammdf stamps the wall clock into the header and the file history; both are set from the drive's
recording start so the file is byte-identical for a seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from asammdf import MDF, Signal
from asammdf.blocks import v4_constants as v4c
from asammdf.blocks.source_utils import Source
from asammdf.blocks.v4_blocks import FileHistory

from avops.sample_drive.dbc import CanFrame
from avops.sample_drive.route import BASE_RATE_HZ, Drive

__all__ = ["CAN_GROUP_FIELDS", "SIGNALS", "can_bus_source", "write_mdf4"]

# channel name -> (unit, comment)
SIGNALS: dict[str, tuple[str, str]] = {
    "VehicleSpeed": ("km/h", "Vehicle speed over ground"),
    "YawRate": ("deg/s", "Yaw rate, positive counter-clockwise"),
    "SteeringWheelAngle": ("deg", "Steering wheel angle, positive left"),
    "BrakePressure": ("bar", "Brake master cylinder pressure"),
    "LatAccel": ("m/s^2", "Lateral acceleration, positive to the left"),
    "LongAccel": ("m/s^2", "Longitudinal acceleration, positive forward"),
}

CAN_GROUP_FIELDS = (
    "CAN_DataFrame.BusChannel",
    "CAN_DataFrame.ID",
    "CAN_DataFrame.IDE",
    "CAN_DataFrame.DLC",
    "CAN_DataFrame.DataLength",
    "CAN_DataFrame.DataBytes",
    "CAN_DataFrame.Dir",
)


def can_bus_source(comment: str) -> Source:
    """The source of a CAN bus log group (bus ``CAN1``).

    It marks the group as ASAM bus logging; asammdf and Vector tools then treat it as raw CAN
    frames to decode with a database.
    """
    return Source(
        name="CAN1",
        path="CAN1",
        comment=comment,
        source_type=v4c.SOURCE_BUS,
        bus_type=v4c.BUS_TYPE_CAN,
    )


def _vehicle_signals(drive: Drive) -> list[Signal]:
    t = drive.t[:-1]  # [0, duration): the last base sample is the end instant, not a sample
    values = {
        "VehicleSpeed": drive.speed * 3.6,
        "YawRate": np.degrees(drive.yaw_rate),
        "SteeringWheelAngle": drive.steering_angle,
        "BrakePressure": drive.brake_pressure,
        "LatAccel": drive.accel_lat,
        "LongAccel": drive.accel_long,
    }
    return [
        Signal(
            samples=values[name][: len(t)].astype(np.float64),
            timestamps=t,
            name=name,
            unit=unit,
            comment=comment,
        )
        for name, (unit, comment) in SIGNALS.items()
    ]


def _can_signal(frames: Iterable[CanFrame]) -> Signal:
    items = list(frames)
    dtype = np.dtype(
        [
            ("CAN_DataFrame.BusChannel", "<u1"),
            ("CAN_DataFrame.ID", "<u4"),
            ("CAN_DataFrame.IDE", "<u1"),
            ("CAN_DataFrame.DLC", "<u1"),
            ("CAN_DataFrame.DataLength", "<u1"),
            ("CAN_DataFrame.DataBytes", "(8,)u1"),
            ("CAN_DataFrame.Dir", "<u1"),
        ]
    )
    samples = np.zeros(len(items), dtype=dtype)
    samples["CAN_DataFrame.BusChannel"] = 1
    samples["CAN_DataFrame.ID"] = [f.frame_id for f in items]
    samples["CAN_DataFrame.DLC"] = [len(f.data) for f in items]
    samples["CAN_DataFrame.DataLength"] = [len(f.data) for f in items]
    samples["CAN_DataFrame.DataBytes"] = np.array(
        [np.frombuffer(f.data.ljust(8, b"\0"), dtype=np.uint8) for f in items]
    )
    source = can_bus_source("Vehicle CAN")
    return Signal(
        samples=samples,
        timestamps=np.array([f.t for f in items], dtype=np.float64),
        name="CAN_DataFrame",
        comment="CAN bus logging",
        source=source,
    )


def write_mdf4(path: Path, drive: Drive, frames: Iterable[CanFrame]) -> None:
    """Write ``path`` (MDF 4.10): one vehicle-signal group and one CAN bus-logging group."""
    mdf = MDF(version="4.10")
    mdf.header.start_time = drive.start
    mdf.header.comment = "AVOps sample drive"
    history = FileHistory()
    # The constructor stamps time.time(); the setter replaces it with the recording start.
    history.time_stamp = drive.start
    history.comment = (
        "<FHcomment><TX>created</TX><tool_id>avops sample</tool_id>"
        "<tool_vendor>AVOps DataOps</tool_vendor><tool_version>1</tool_version></FHcomment>"
    )
    mdf.file_history = [history]
    mdf.append(_vehicle_signals(drive), comment=f"Vehicle signals {BASE_RATE_HZ} Hz")
    mdf.append([_can_signal(frames)], acq_name="CAN1", comment="CAN1 bus logging")
    mdf.save(path, overwrite=True, compression=2, add_history_block=False)
    mdf.close()
