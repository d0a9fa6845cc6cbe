"""The drive's ground truth: a known route, the ego motion along it and the planted events.

Everything else (camera, lidar, IMU, CAN, GPS) samples this one timeline, which is what makes the
sensors mutually consistent: a hard brake in the IMU is the same hard brake in the MDF4 signals,
in the CAN payloads and in the speed topic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BASE_RATE_HZ",
    "DURATION_S",
    "Drive",
    "Pedestrian",
    "Timeline",
    "build_drive",
]

Array = NDArray[np.float64]

DURATION_S = 40.0
BASE_RATE_HZ = 100
CRUISE_SPEED_MS = 13.9  # 50 km/h, urban arterial
HARD_BRAKE_DECEL = -7.5  # well past the -6 m/s^2 a detector is asked to find
LANE_WIDTH_M = 3.5
LANE_CHANGE_S = 3.5
LAUNCH_ACCEL = 1.8
WHEELBASE_M = 2.9
STEERING_RATIO = 15.0

# Route origin: a public road grid near Lindholmen, Gothenburg (an automotive test area).
ORIGIN_LAT = 57.7065
ORIGIN_LON = 11.9380
EARTH_RADIUS_M = 6_378_137.0
ROUTE_STEP_M = 10.0
ROUTE_LENGTH_M = 700.0


@dataclass(frozen=True)
class Pedestrian:
    """A pedestrian that is in the front camera's view from ``start`` to ``end`` (drive seconds)."""

    id: str
    start: float
    end: float
    # Where it stands at ``start``: metres ahead of the ego along the road, metres left of the
    # right-lane centre; it walks ``walk_ms`` m/s to the left (negative: to the right).
    ahead_m: float
    left_m: float
    walk_ms: float


@dataclass(frozen=True)
class Timeline:
    """Times (drive seconds from the recording start) of the planted events."""

    brake_start: float
    brake_end: float  # the moment speed reaches 0
    stop_end: float
    lane_change_start: float
    lane_change_end: float


@dataclass(frozen=True)
class Drive:
    """Ego state sampled at :data:`BASE_RATE_HZ`, the route and the planted events."""

    start: datetime
    t: Array
    speed: Array  # m/s
    accel_long: Array  # m/s^2
    accel_lat: Array  # m/s^2, positive to the left
    yaw_rate: Array  # rad/s, positive counter-clockwise
    heading: Array  # rad, ENU: 0 = east, counter-clockwise
    lateral_offset: Array  # m left of the right-lane centre
    distance: Array  # m travelled along the route
    east: Array
    north: Array
    lat: Array
    lon: Array
    steering_angle: Array  # deg at the steering wheel
    brake_pressure: Array  # bar
    route_lat: Array
    route_lon: Array
    timeline: Timeline
    pedestrians: tuple[Pedestrian, ...]

    @property
    def duration(self) -> float:
        """Drive length in seconds."""
        return DURATION_S

    def at(self, values: Array, times: Array | float) -> Array:
        """Linear interpolation of a base-rate series at arbitrary drive times."""
        return np.asarray(np.interp(times, self.t, values), dtype=np.float64)

    def stamp_ns(self, t: float) -> int:
        """Absolute UNIX time in nanoseconds of drive time ``t``."""
        return int(self.start.timestamp()) * 1_000_000_000 + round(t * 1e9)

    def time_of(self, t: float) -> datetime:
        """Absolute UTC time of drive time ``t``."""
        return self.start + timedelta(microseconds=round(t * 1e6))


def recording_start(seed: int) -> datetime:
    """Recording start for a seed: a fixed morning, shifted by the seed so drives do not collide."""
    return datetime(2026, 5, 4, 8, 0, 0, tzinfo=UTC) + timedelta(minutes=7 * seed)


def _route_heading(s: Array) -> Array:
    """Route heading at arc length ``s``: straight, a gentle left curve, straight."""
    # Curvature 1/400 m between 260 m and 420 m: a real arterial bend, small enough that the lane
    # change still dominates the yaw-rate trace.
    psi0 = math.radians(30.0)
    kappa = 1 / 400.0
    in_curve = np.clip(s - 260.0, 0.0, 160.0)
    return psi0 + kappa * in_curve


def _route_points(s: Array) -> tuple[Array, Array]:
    """East/north of the route centreline at arc lengths ``s`` (numerical integration, 0.5 m)."""
    fine = np.arange(0.0, ROUTE_LENGTH_M + 1.0, 0.5)
    psi = _route_heading(fine)
    east = np.concatenate([[0.0], np.cumsum(np.cos(psi[:-1]) * 0.5)])
    north = np.concatenate([[0.0], np.cumsum(np.sin(psi[:-1]) * 0.5)])
    return np.interp(s, fine, east), np.interp(s, fine, north)


def _to_latlon(east: Array, north: Array) -> tuple[Array, Array]:
    """Local tangent plane to WGS84; exact enough over a kilometre."""
    lat = ORIGIN_LAT + np.degrees(north / EARTH_RADIUS_M)
    lon = ORIGIN_LON + np.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(ORIGIN_LAT))))
    return lat, lon


def _timeline(rng: np.random.Generator) -> Timeline:
    # The seed moves each event by up to ~0.5 s so different seeds give different drives while the
    # story (brake for a pedestrian, wait, drive on, change lane) stays the same.
    brake_start = 10.0 + float(rng.uniform(-0.5, 0.5))
    brake_end = brake_start + CRUISE_SPEED_MS / -HARD_BRAKE_DECEL
    stop_end = brake_end + 6.0 + float(rng.uniform(-0.3, 0.3))
    lane_change_start = 29.0 + float(rng.uniform(-0.5, 0.5))
    return Timeline(
        brake_start=round(brake_start, 3),
        brake_end=round(brake_end, 3),
        stop_end=round(stop_end, 3),
        lane_change_start=round(lane_change_start, 3),
        lane_change_end=round(lane_change_start + LANE_CHANGE_S, 3),
    )


def _speed_profile(t: Array, tl: Timeline) -> Array:
    speed = np.full_like(t, CRUISE_SPEED_MS)
    braking = (t >= tl.brake_start) & (t < tl.brake_end)
    speed[braking] = CRUISE_SPEED_MS + HARD_BRAKE_DECEL * (t[braking] - tl.brake_start)
    speed[(t >= tl.brake_end) & (t < tl.stop_end)] = 0.0
    launch = t >= tl.stop_end
    speed[launch] = np.minimum(CRUISE_SPEED_MS, LAUNCH_ACCEL * (t[launch] - tl.stop_end))
    return np.maximum(speed, 0.0)


def _lateral_profile(t: Array, tl: Timeline) -> Array:
    # Cycloid blend: zero lateral speed and acceleration at both ends, like a calm lane change.
    tau = np.clip((t - tl.lane_change_start) / LANE_CHANGE_S, 0.0, 1.0)
    return LANE_WIDTH_M * (tau - np.sin(2 * np.pi * tau) / (2 * np.pi))


def build_drive(seed: int) -> Drive:
    """The deterministic ground truth of the drive for ``seed``."""
    rng = np.random.default_rng(seed)
    tl = _timeline(rng)
    dt = 1.0 / BASE_RATE_HZ
    t = np.arange(0.0, DURATION_S + dt / 2, dt)
    speed = _speed_profile(t, tl)
    # Numerical derivative of the commanded profile: exactly what an ideal IMU would measure.
    accel_long = np.gradient(speed, dt)
    distance = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) / 2 * dt)])
    offset = _lateral_profile(t, tl)
    centre_e, centre_n = _route_points(distance)
    psi = _route_heading(distance)
    east = centre_e - np.sin(psi) * offset
    north = centre_n + np.cos(psi) * offset
    lateral_speed = np.gradient(offset, dt)
    safe_speed = np.maximum(speed, 0.1)
    heading = psi + np.arctan2(lateral_speed, safe_speed)
    yaw_rate = np.gradient(np.unwrap(heading), dt)
    accel_lat = speed * yaw_rate
    steering = np.degrees(np.arctan(WHEELBASE_M * yaw_rate / safe_speed)) * STEERING_RATIO
    steering[speed < 0.1] = 0.0
    brake = np.clip(-accel_long, 0.0, None) * 12.0  # ~12 bar per m/s^2 of deceleration
    brake[speed == 0.0] = 25.0  # held on the brake while stopped
    lat, lon = _to_latlon(east, north)
    route_s = np.arange(0.0, ROUTE_LENGTH_M + ROUTE_STEP_M / 2, ROUTE_STEP_M)
    route_lat, route_lon = _to_latlon(*_route_points(route_s))
    pedestrians = (
        # Crosses the road in front of the car: the reason for the hard brake and the stop.
        Pedestrian(
            "ped-1", round(tl.brake_start - 1.0, 3), round(tl.stop_end - 0.5, 3), 32.0, -4.0, 0.9
        ),
        # Waits on the right sidewalk after the lane change; never enters the road.
        Pedestrian(
            "ped-2",
            round(tl.lane_change_end + 1.5, 3),
            round(tl.lane_change_end + 4.5, 3),
            55.0,
            -5.0,
            0.0,
        ),
    )
    return Drive(
        start=recording_start(seed),
        t=t,
        speed=speed,
        accel_long=accel_long,
        accel_lat=accel_lat,
        yaw_rate=yaw_rate,
        heading=heading,
        lateral_offset=offset,
        distance=distance,
        east=east,
        north=north,
        lat=lat,
        lon=lon,
        steering_angle=steering,
        brake_pressure=brake,
        route_lat=route_lat,
        route_lon=route_lon,
        timeline=tl,
        pedestrians=pedestrians,
    )
