"""MDF, TDMS and DBC fixtures written with asammdf, nptdms and cantools into tmp_path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from asammdf import MDF, Signal

from avops.sample_drive.mdf4 import can_bus_source

if TYPE_CHECKING:
    from pathlib import Path

MDF_SAMPLES = 1000
CAN_FRAMES = 200
START = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
START_NS = int(START.timestamp()) * 1_000_000_000
ENGINE_ID = 0x100
BRAKE_ID = 0x200


def can_payload(i: int, frame_id: int) -> bytes:
    """Engine frames: rpm = i * 10 in bytes 0-1 (factor 1); brake frames: pressure = i % 100."""
    if frame_id == ENGINE_ID:
        return (i * 10).to_bytes(2, "little") + bytes(6)
    return bytes([i % 100]) + bytes(7)


def write_mdf(
    path: Path, *, version: str = "4.10", can: bool = True, samples: int = MDF_SAMPLES
) -> Path:
    """Two numeric groups with units and comments, plus a CAN bus logging group (MDF 4)."""
    mdf = MDF(version=version)
    mdf.header.start_time = START
    t = np.arange(samples) * 0.01
    mdf.append(
        [
            Signal(np.sin(t), t, name="speed", unit="km/h", comment="vehicle speed"),
            Signal(np.arange(samples, dtype=np.int16), t, name="counter", unit="-"),
        ],
        acq_name="Vehicle",
        comment="vehicle bus signals",
    )
    t2 = np.arange(samples // 2) * 0.02
    mdf.append(
        [Signal(np.full(samples // 2, 21.5, np.float32), t2, name="temperature", unit="degC")],
        acq_name="Climate",
    )
    if can and version.startswith("4"):
        types = [
            ("CAN_DataFrame.BusChannel", "u1"),
            ("CAN_DataFrame.ID", "<u4"),
            ("CAN_DataFrame.IDE", "u1"),
            ("CAN_DataFrame.DLC", "u1"),
            ("CAN_DataFrame.DataLength", "u1"),
            ("CAN_DataFrame.DataBytes", "u1", (8,)),
        ]
        frames = np.zeros(CAN_FRAMES, dtype=types)
        ids = np.where(np.arange(CAN_FRAMES) % 2 == 0, ENGINE_ID, BRAKE_ID)
        frames["CAN_DataFrame.BusChannel"] = 1
        frames["CAN_DataFrame.ID"] = ids
        frames["CAN_DataFrame.DLC"] = 8
        frames["CAN_DataFrame.DataLength"] = 8
        for i, frame_id in enumerate(ids):
            frames["CAN_DataFrame.DataBytes"][i] = np.frombuffer(
                can_payload(i, int(frame_id)), np.uint8
            )
        source = can_bus_source("")
        tc = np.arange(CAN_FRAMES) * 0.005
        mdf.append(
            [Signal(frames, tc, name="CAN_DataFrame", source=source)],
            acq_name="CAN1",
            acq_source=source,
        )
    mdf.save(path, overwrite=True)
    mdf.close()
    return path


def write_dbc(path: Path) -> Path:
    """A DBC with the two fixture messages, written by cantools."""
    from cantools.database import Database, Message
    from cantools.database import Signal as DbcSignal
    from cantools.database.conversion import BaseConversion

    database = Database(
        messages=[
            Message(
                frame_id=ENGINE_ID,
                name="Engine",
                length=8,
                signals=[DbcSignal("EngineSpeed", start=0, length=16, unit="rpm")],
            ),
            Message(
                frame_id=BRAKE_ID,
                name="Brake",
                length=8,
                signals=[
                    DbcSignal(
                        "BrakePressure",
                        start=0,
                        length=8,
                        conversion=BaseConversion.factory(scale=0.5),
                        unit="bar",
                    )
                ],
            ),
        ]
    )
    path.write_text(database.as_dbc_string())
    return path


TDMS_SEGMENTS = 4
TDMS_PER_SEGMENT = 500


def write_tdms(
    path: Path, *, segments: int = TDMS_SEGMENTS, per_segment: int = TDMS_PER_SEGMENT
) -> Path:
    """Two groups of waveform channels over several segments, written by nptdms."""
    from nptdms import ChannelObject, GroupObject, RootObject, TdmsWriter

    props = {
        "wf_start_time": np.datetime64(START.replace(tzinfo=None), "us"),
        "wf_increment": 0.001,
    }
    with TdmsWriter(path) as writer:
        for seg in range(segments):
            base = seg * per_segment
            values = np.arange(base, base + per_segment, dtype=np.float64)
            writer.write_segment(
                [
                    RootObject({"vehicle": "TEST-VIN"}),
                    GroupObject("Accel", {"sensor": "adxl"}),
                    ChannelObject("Accel", "x", values, {**props, "unit_string": "m/s^2"}),
                    ChannelObject("Accel", "y", values * 2, {**props, "unit_string": "m/s^2"}),
                    ChannelObject(
                        "Strain", "gauge1", values.astype(np.int32), {**props, "unit_string": "ue"}
                    ),
                ]
            )
    return path
