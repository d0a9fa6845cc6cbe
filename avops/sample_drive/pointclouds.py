"""Lidar scans and radar targets of the same scene the camera sees.

Lidar: a spinning multi-beam sensor over a flat road with a facade ring around it; pedestrians in
view return points at their true range. Radar: static roadside targets and the pedestrians, with
range, azimuth and radial velocity consistent with the ego speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avops.sample_drive.camera import CAMERA_HEIGHT_M, PEDESTRIAN_HEIGHT_M
from avops.sample_drive.route import Drive

__all__ = ["LidarModel", "RadarTargets", "lidar_scan", "radar_targets", "pedestrian_positions"]

LIDAR_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4")])
FACADE_RADIUS_M = 35.0
MAX_RANGE_M = 120.0
PEDESTRIAN_RADIUS_M = 0.3
RADAR_FOV_RAD = np.radians(60.0)
PARKED_CAR_SPACING_M = 40.0
PARKED_CAR_LEFT_M = -4.2  # right of the road edge


@dataclass(frozen=True)
class LidarModel:
    """Beam layout: ``rings`` elevations from -20 to +5 degrees, ``columns`` azimuths per turn."""

    rings: int
    columns: int

    @property
    def points(self) -> int:
        """Points per scan (the cloud is organized: every beam returns a point)."""
        return self.rings * self.columns


@dataclass(frozen=True)
class RadarTargets:
    """Detections of one radar cycle (equal-length arrays, sensor frame: x ahead, y left)."""

    x: NDArray[np.float32]
    y: NDArray[np.float32]
    range: NDArray[np.float32]
    azimuth: NDArray[np.float32]
    velocity: NDArray[np.float32]  # radial, negative = approaching
    rcs: NDArray[np.float32]


def pedestrian_positions(drive: Drive, t: float) -> list[tuple[str, float, float, float]]:
    """(id, ahead, left, lateral speed) of each pedestrian in view, in the ego frame."""
    s_now = float(drive.at(drive.distance, t))
    offset = float(drive.at(drive.lateral_offset, t))
    found = []
    for ped in drive.pedestrians:
        if ped.start <= t < ped.end:
            ahead = float(drive.at(drive.distance, ped.start)) + ped.ahead_m - s_now
            left = ped.left_m + ped.walk_ms * (t - ped.start) - offset
            found.append((ped.id, max(ahead, 2.0), left, ped.walk_ms))
    return found


def lidar_scan(
    drive: Drive, t: float, model: LidarModel, rng: np.random.Generator
) -> NDArray[np.void]:
    """One organized scan (rings x columns points) as a structured float32 array."""
    elevation = np.radians(np.linspace(-20.0, 5.0, model.rings))[:, None]
    azimuth = np.linspace(-np.pi, np.pi, model.columns, endpoint=False)[None, :]
    # Downward beams hit the road, upward beams the facade ring; whichever is nearer wins.
    with np.errstate(divide="ignore"):
        ground = np.where(elevation < 0, CAMERA_HEIGHT_M / np.tan(-elevation), np.inf)
    facade = FACADE_RADIUS_M / np.cos(elevation)
    horizontal = np.broadcast_to(np.minimum(ground, facade), (model.rings, model.columns)).copy()
    intensity = np.where(ground < facade, 0.15, 0.45) * np.ones_like(horizontal)
    for _pid, ahead, left, _walk in pedestrian_positions(drive, t):
        dist = float(np.hypot(ahead, left))
        bearing = float(np.arctan2(left, ahead))
        half_angle = np.arctan2(PEDESTRIAN_RADIUS_M, dist)
        top = np.arctan2(PEDESTRIAN_HEIGHT_M - CAMERA_HEIGHT_M, dist)
        bottom = np.arctan2(-CAMERA_HEIGHT_M, dist)
        hit = (
            (np.abs(np.angle(np.exp(1j * (azimuth - bearing)))) <= half_angle)
            & (elevation <= top)
            & (elevation >= bottom)
        )
        hit &= dist - PEDESTRIAN_RADIUS_M < horizontal
        horizontal[hit] = dist - PEDESTRIAN_RADIUS_M
        intensity[hit] = 0.7
    horizontal = np.minimum(horizontal, MAX_RANGE_M)
    horizontal += rng.normal(0.0, 0.02, horizontal.shape)
    cloud = np.empty(model.points, dtype=LIDAR_DTYPE)
    cloud["x"] = (horizontal * np.cos(azimuth)).ravel()
    cloud["y"] = (horizontal * np.sin(azimuth)).ravel()
    cloud["z"] = (horizontal * np.tan(elevation)).ravel()
    cloud["intensity"] = intensity.ravel()
    return cloud


def radar_targets(drive: Drive, t: float, rng: np.random.Generator) -> RadarTargets:
    """Detections of one radar cycle: parked cars along the right kerb plus pedestrians in view."""
    s_now = float(drive.at(drive.distance, t))
    speed = float(drive.at(drive.speed, t))
    offset = float(drive.at(drive.lateral_offset, t))
    first = np.ceil(s_now / PARKED_CAR_SPACING_M) * PARKED_CAR_SPACING_M
    ahead = np.arange(first, s_now + MAX_RANGE_M, PARKED_CAR_SPACING_M) - s_now
    left = np.full_like(ahead, PARKED_CAR_LEFT_M - offset)
    lateral_speed = np.zeros_like(ahead)
    rcs = np.full_like(ahead, 10.0)
    peds = pedestrian_positions(drive, t)
    if peds:
        ahead = np.concatenate([ahead, [p[1] for p in peds]])
        left = np.concatenate([left, [p[2] for p in peds]])
        lateral_speed = np.concatenate([lateral_speed, [p[3] for p in peds]])
        rcs = np.concatenate([rcs, np.full(len(peds), -8.0)])
    rng_m = np.hypot(ahead, left)
    azimuth = np.arctan2(left, ahead)
    keep = (np.abs(azimuth) <= RADAR_FOV_RAD) & (rng_m > 0.5)
    # Radial velocity of a target moving (-speed, lateral) relative to the ego.
    radial = (-speed * ahead + lateral_speed * left) / np.maximum(rng_m, 1e-6)
    noise = rng.normal(0.0, 0.05, rng_m.shape)

    def f32(values: NDArray[np.float64]) -> NDArray[np.float32]:
        return np.asarray(values[keep], dtype=np.float32)

    return RadarTargets(
        x=f32(ahead),
        y=f32(left),
        range=f32(rng_m + noise),
        azimuth=f32(azimuth),
        velocity=f32(radial),
        rcs=f32(rcs),
    )
