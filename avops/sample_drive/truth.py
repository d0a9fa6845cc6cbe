"""The truth sidecars: ``truth.json`` (events, windows, frames, counts) and ``route.geojson``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from avops.sample_drive.ros2 import CAMERA_RATE_HZ, ticks
from avops.sample_drive.route import HARD_BRAKE_DECEL, LANE_WIDTH_M, ROUTE_STEP_M, Drive

__all__ = ["ROUTE_NAME", "TRUTH_NAME", "TRUTH_SCHEMA", "build_truth", "write_route", "write_truth"]

TRUTH_NAME = "truth.json"
ROUTE_NAME = "route.geojson"
TRUTH_SCHEMA = "avops-sample-truth/1"


def _window(drive: Drive, kind: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "start_s": round(start, 3),
        "end_s": round(end, 3),
        "start_ns": drive.stamp_ns(start),
        "end_ns": drive.stamp_ns(end),
        **extra,
    }


def _events(drive: Drive) -> list[dict[str, Any]]:
    tl = drive.timeline
    yaw = drive.yaw_rate[(drive.t >= tl.lane_change_start) & (drive.t <= tl.lane_change_end)]
    events = [
        _window(
            drive,
            "hard_brake",
            tl.brake_start,
            tl.brake_end,
            decel_mps2=HARD_BRAKE_DECEL,
            speed_before_mps=round(float(drive.speed[0]), 3),
        ),
        _window(drive, "stop", tl.brake_end, tl.stop_end),
        _window(
            drive,
            "lane_change",
            tl.lane_change_start,
            tl.lane_change_end,
            direction="left",
            lateral_offset_m=LANE_WIDTH_M,
            peak_yaw_rate_dps=round(float(np.degrees(np.abs(yaw).max())), 3),
        ),
    ]
    camera_times = [t for _, t in ticks(drive, CAMERA_RATE_HZ)]
    for ped in drive.pedestrians:
        frames = [k for k, t in enumerate(camera_times) if ped.start <= t < ped.end]
        events.append(
            _window(
                drive,
                "pedestrian_in_view",
                ped.start,
                ped.end,
                object_id=ped.id,
                object_class="pedestrian",
                camera_topic="/camera/front/image_raw",
                detection_topic="/perception/detections",
                frames=frames,
                frame_stamps_ns=[drive.stamp_ns(camera_times[k]) for k in frames],
            )
        )
    return sorted(events, key=lambda e: (e["start_s"], e["type"]))


def build_truth(
    drive: Drive, *, seed: int, size: str, vehicle_id: str, recordings: dict[str, Any]
) -> dict[str, Any]:
    """The truth document (see docs/sample-drive.md for the format)."""
    return {
        "schema": TRUTH_SCHEMA,
        "seed": seed,
        "size": size,
        "vehicle_id": vehicle_id,
        "recording_start": drive.start.isoformat().replace("+00:00", "Z"),
        "recording_end": drive.time_of(drive.duration).isoformat().replace("+00:00", "Z"),
        "duration_s": drive.duration,
        "time_base": "start_s/end_s: seconds after recording_start; *_ns: UNIX ns as in the bags",
        "events": _events(drive),
        "route": {
            "file": ROUTE_NAME,
            "waypoints": len(drive.route_lat),
            "waypoint_spacing_m": ROUTE_STEP_M,
            "distance_driven_m": round(float(drive.distance[-1]), 2),
            "start": [round(float(drive.lon[0]), 7), round(float(drive.lat[0]), 7)],
            "end": [round(float(drive.lon[-1]), 7), round(float(drive.lat[-1]), 7)],
        },
        "recordings": recordings,
    }


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    """Write ``truth.json`` (sorted keys, stable bytes)."""
    path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_route(path: Path, drive: Drive) -> None:
    """Write the route (waypoints), the true ego track (1 Hz) and event points as GeoJSON."""

    def coords(lat: np.ndarray, lon: np.ndarray) -> list[list[float]]:
        return [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lon, lat, strict=True)]

    track_t = np.arange(0.0, drive.duration + 0.5, 1.0)
    tl = drive.timeline
    points = {
        "hard_brake": tl.brake_start,
        "stop": tl.brake_end,
        "lane_change": tl.lane_change_start,
    }
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "properties": {"name": "route", "waypoint_spacing_m": ROUTE_STEP_M},
            "geometry": {
                "type": "LineString",
                "coordinates": coords(drive.route_lat, drive.route_lon),
            },
        },
        {
            "type": "Feature",
            "properties": {"name": "ego_track", "rate_hz": 1.0},
            "geometry": {
                "type": "LineString",
                "coordinates": coords(drive.at(drive.lat, track_t), drive.at(drive.lon, track_t)),
            },
        },
    ]
    for name, t in points.items():
        lat, lon = drive.at(drive.lat, t), drive.at(drive.lon, t)
        features.append(
            {
                "type": "Feature",
                "properties": {"name": name, "time_s": t},
                "geometry": {
                    "type": "Point",
                    "coordinates": coords(np.atleast_1d(lat), np.atleast_1d(lon))[0],
                },
            }
        )
    document = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
