"""The TDMS file: a DAQ's analog channels and the radar's closest target, in 5 s segments.

A DAQ streams: each 5 s block is one TDMS segment, as NI loggers write them. Waveform properties
(``wf_start_time``, ``wf_increment``) come from the drive's recording start, never the wall clock.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nptdms import ChannelObject, GroupObject, RootObject, TdmsWriter

from avops.sample_drive.pointclouds import radar_targets
from avops.sample_drive.route import Drive

__all__ = ["TDMS_GROUPS", "write_tdms"]

SEGMENT_S = 5.0
ANALOG_RATE_HZ = 100
RADAR_RATE_HZ = 20

# group -> channel -> unit
TDMS_GROUPS: dict[str, dict[str, str]] = {
    "Analog": {"SupplyVoltage": "V", "BrakeDiscTemperature": "degC", "AmbientTemperature": "degC"},
    "RadarClosestTarget": {"Range": "m", "Azimuth": "rad", "RadialVelocity": "m/s"},
}


def _analog(drive: Drive, t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # The brake disc heats with brake pressure and cools slowly: the hard brake shows up here too.
    dt = 1.0 / ANALOG_RATE_HZ
    pressure = drive.at(drive.brake_pressure, t)
    temp = np.empty_like(t)
    level = 60.0
    for i, p in enumerate(pressure):
        level += (0.02 * p - 0.01 * (level - 60.0)) * dt
        temp[i] = level
    return {
        "SupplyVoltage": 13.8 + rng.normal(0.0, 0.02, t.shape),
        "BrakeDiscTemperature": temp,
        "AmbientTemperature": np.full_like(t, 14.5),
    }


def _radar(drive: Drive, t: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 6])
    out = {name: np.full(t.shape, np.nan) for name in TDMS_GROUPS["RadarClosestTarget"]}
    for i, ti in enumerate(t):
        targets = radar_targets(drive, float(ti), rng)
        if len(targets.range):
            k = int(np.argmin(targets.range))
            out["Range"][i] = targets.range[k]
            out["Azimuth"][i] = targets.azimuth[k]
            out["RadialVelocity"][i] = targets.velocity[k]
    return out


def write_tdms(path: Path, drive: Drive, seed: int) -> int:
    """Write ``path``; return the number of segments."""
    start = np.datetime64(drive.start.replace(tzinfo=None), "us")
    rates = {"Analog": ANALOG_RATE_HZ, "RadarClosestTarget": RADAR_RATE_HZ}
    analog_t = np.arange(0.0, drive.duration, 1.0 / ANALOG_RATE_HZ)
    radar_t = np.arange(0.0, drive.duration, 1.0 / RADAR_RATE_HZ)
    data = {
        "Analog": _analog(drive, analog_t, np.random.default_rng([seed, 5])),
        "RadarClosestTarget": _radar(drive, radar_t, seed),
    }
    root = RootObject(
        properties={
            "name": "AVOps sample drive DAQ",
            "author": "avops sample",
            "datetime": start,
        }
    )
    segments = int(np.ceil(drive.duration / SEGMENT_S))
    with TdmsWriter(path) as writer:
        for segment in range(segments):
            objects: list[RootObject | GroupObject | ChannelObject] = [root]
            for group, channels in TDMS_GROUPS.items():
                rate = rates[group]
                objects.append(GroupObject(group, properties={"sample_rate": float(rate)}))
                lo, hi = round(segment * SEGMENT_S * rate), round((segment + 1) * SEGMENT_S * rate)
                for channel, unit in channels.items():
                    objects.append(
                        ChannelObject(
                            group,
                            channel,
                            data[group][channel][lo:hi].astype(np.float64),
                            properties={
                                "unit_string": unit,
                                "wf_start_time": start,
                                "wf_start_offset": 0.0,
                                "wf_increment": 1.0 / rate,
                                "sample_rate": float(rate),
                            },
                        )
                    )
            writer.write_segment(objects)
    return segments
