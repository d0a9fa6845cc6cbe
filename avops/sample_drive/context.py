"""The drive's offline context: ``weather.csv`` and ``roads.geojson`` for enrichment.

The weather table has two stations, the route's and a dry one 30 km away, every 10 s from a
minute before the drive to a minute after it; it rains at the route's station for the rows in
:data:`RAIN_ROWS_S` (drive seconds), so with nearest-row lookup the frames in ``(15 s, 35 s]``
are rainy. The road network is the route's centreline (a primary road), a tertiary road crossing
it at 200 m and a residential street 120 m to its right; all in Sweden, in daylight.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from avops.sample_drive.route import DURATION_S, EARTH_RADIUS_M, Drive

__all__ = ["RAIN_ROWS_S", "ROADS_NAME", "WEATHER_NAME", "write_roads", "write_weather"]

WEATHER_NAME = "weather.csv"
ROADS_NAME = "roads.geojson"
WEATHER_STEP_S = 10
RAIN_ROWS_S = (20, 30)
# The second station: 30 km east, outside the route's nearest-station reach.
_FAR_STATION_EAST_M = 30_000.0


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    """Shift a WGS84 point by metres on the local tangent plane."""
    return (
        lat + math.degrees(north_m / EARTH_RADIUS_M),
        lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))),
    )


def write_weather(path: Path, drive: Drive) -> None:
    """Write the weather table (stable bytes: fixed rounding, '\\n' line ends)."""
    mid = len(drive.route_lat) // 2
    near = (round(float(drive.route_lat[mid]), 5), round(float(drive.route_lon[mid]), 5))
    far_lat, far_lon = _offset(near[0], near[1], _FAR_STATION_EAST_M, 0.0)
    far = (round(far_lat, 5), round(far_lon, 5))
    out = io.StringIO()
    out.write("time,lat,lon,temperature_c,precipitation_mm,cloud_cover_pct,weather_code\n")
    for t in range(-60, int(DURATION_S) + 61, WEATHER_STEP_S):
        stamp = drive.time_of(float(t)).strftime("%Y-%m-%dT%H:%M:%SZ")
        raining = t in RAIN_ROWS_S
        # A spring morning: ~11 °C, warming slowly; rain comes with full cloud cover.
        temperature = round(11.0 + 0.01 * (t + 60), 2)
        rows = (
            (
                near,
                temperature,
                0.8 if raining else 0.0,
                100 if raining else 60,
                61 if raining else 3,
            ),
            (far, round(temperature + 2.0, 2), 0.0, 20, 1),
        )
        for (lat, lon), temp, rain, cloud, code in rows:
            out.write(f"{stamp},{lat:.5f},{lon:.5f},{temp:.2f},{rain:.1f},{cloud},{code}\n")
    path.write_bytes(out.getvalue().encode("ascii"))


def _line(coords: list[tuple[float, float]]) -> list[list[float]]:
    return [[round(lon, 7), round(lat, 7)] for lat, lon in coords]


def write_roads(path: Path, drive: Drive) -> None:
    """Write the road network GeoJSON (LineStrings with road_class, maxspeed, country)."""
    route = list(zip(drive.route_lat.tolist(), drive.route_lon.tolist(), strict=True))
    # The crossing road: perpendicular to the route at its 200 m waypoint, 150 m each side.
    cross_lat, cross_lon = route[20]
    heading = math.atan2(
        (route[21][0] - route[19][0]) * EARTH_RADIUS_M,
        math.radians(route[21][1] - route[19][1])
        * EARTH_RADIUS_M
        * math.cos(math.radians(cross_lat)),
    )
    normal = (-math.sin(heading), math.cos(heading))  # east, north of the left normal
    crossing = [
        _offset(cross_lat, cross_lon, normal[0] * d, normal[1] * d) for d in (-150.0, 0.0, 150.0)
    ]
    # The residential street: the route shifted 120 m to the right of its first leg, whose
    # heading is 30° from east (route.py); beyond any match distance of the route's frames.
    right = (math.sin(math.radians(30.0)), -math.cos(math.radians(30.0)))
    street = [_offset(lat, lon, right[0] * 120.0, right[1] * 120.0) for lat, lon in route]
    roads: list[tuple[str, str, int, list[tuple[float, float]]]] = [
        ("Lindholmsallén", "primary", 50, route),
        ("Tvärgatan", "tertiary", 40, crossing),
        ("Bostadsgatan", "residential", 30, street),
    ]
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "properties": {
                "name": name,
                "road_class": road_class,
                "maxspeed": maxspeed,
                "country": "SE",
            },
            "geometry": {"type": "LineString", "coordinates": _line(coords)},
        }
        for name, road_class, maxspeed, coords in roads
    ]
    document = {"type": "FeatureCollection", "features": features}
    path.write_bytes((json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
