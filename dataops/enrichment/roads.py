"""Map context from a road-network GeoJSON: nearest road segment through a uniform grid.

Features are LineStrings (or MultiLineStrings) with ``road_class``, ``maxspeed`` (km/h) and
``country`` properties. Coordinates are projected to a local tangent plane (metres) around the
network's centre, which is exact to well under a metre over the tens of kilometres a drive's
network covers. Each segment is filed in every grid cell its bounding box touches; a query
looks only at the cells within ``max_distance_m`` of the point.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np

from dataops.enrichment.providers import FloatArray, Int64Array
from dataops.errors import InvalidInputError

__all__ = ["NAME", "VERSION", "RoadMatch", "RoadNetwork", "point_segment_distance"]

NAME = "geojson-grid"
VERSION = "1"
_EARTH_RADIUS_M = 6_378_137.0


@dataclass(frozen=True)
class RoadMatch:
    """Per sample: the matched segment's road index (-1: none) and the distance in metres."""

    road: Int64Array
    distance_m: FloatArray


def point_segment_distance(px: Any, py: Any, segments: FloatArray) -> FloatArray:
    """Euclidean distance from points to segments ``(..., 4)`` = ax, ay, bx, by (broadcasting).

    Degenerate (zero-length) segments are points.
    """
    ax, ay, bx, by = segments[..., 0], segments[..., 1], segments[..., 2], segments[..., 3]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    safe = np.where(length2 > 0, length2, 1.0)
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / safe, 0.0, 1.0)
    t = np.where(length2 > 0, t, 0.0)
    return np.asarray(np.hypot(px - (ax + t * dx), py - (ay + t * dy)), np.float64)


@dataclass(eq=False)
class RoadNetwork:
    """Road segments in local metres with a uniform-grid spatial index.

    ``segments``: (n, 4) ax, ay, bx, by in metres east/north of ``origin`` (lat, lon).
    """

    segments: FloatArray
    road_of_segment: Int64Array
    properties: list[dict[str, Any]]
    _: KW_ONLY
    origin: tuple[float, float]
    cell_m: float = 100.0
    _cells: dict[tuple[int, int], list[int]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._cos_lat = math.cos(math.radians(self.origin[0]))
        for index, (ax, ay, bx, by) in enumerate(self.segments):
            for cx in range(self._cell(min(ax, bx)), self._cell(max(ax, bx)) + 1):
                for cy in range(self._cell(min(ay, by)), self._cell(max(ay, by)) + 1):
                    self._cells.setdefault((cx, cy), []).append(index)

    @classmethod
    def from_geojson(
        cls, data: bytes, *, source: str = "roads.geojson", cell_m: float = 100.0
    ) -> RoadNetwork:
        """Parse a FeatureCollection of (Multi)LineStrings; InvalidInputError if malformed."""
        try:
            document = json.loads(data)
            features = document["features"]
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidInputError(
                f"not a GeoJSON FeatureCollection: {err}", source=source
            ) from err
        lines: list[tuple[int, list[list[float]]]] = []
        properties: list[dict[str, Any]] = []
        for feature in features:
            geometry = feature.get("geometry") or {}
            kind = geometry.get("type")
            if kind == "LineString":
                parts = [geometry["coordinates"]]
            elif kind == "MultiLineString":
                parts = list(geometry["coordinates"])
            else:
                continue  # points, polygons: not roads
            props = feature.get("properties") or {}
            properties.append(
                {
                    "road_class": props.get("road_class"),
                    "maxspeed": _number(props.get("maxspeed")),
                    "country": props.get("country"),
                }
            )
            lines.extend((len(properties) - 1, part) for part in parts)
        points = [p for _, part in lines for p in part]
        if not points:
            raise InvalidInputError("road network has no LineStrings", source=source)
        lon0 = float(np.mean([p[0] for p in points]))
        lat0 = float(np.mean([p[1] for p in points]))
        cos_lat = math.cos(math.radians(lat0))
        rows: list[list[float]] = []
        roads: list[int] = []
        for road, part in lines:
            xy = [_project(p[1], p[0], lat0, lon0, cos_lat) for p in part]
            for (ax, ay), (bx, by) in itertools.pairwise(xy):
                rows.append([ax, ay, bx, by])
                roads.append(road)
        return cls(
            np.array(rows, dtype=np.float64).reshape(-1, 4),
            np.array(roads, dtype=np.int64),
            properties,
            origin=(lat0, lon0),
            cell_m=cell_m,
        )

    def _cell(self, value: float) -> int:
        return math.floor(value / self.cell_m)

    def to_local(self, lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Metres east and north of the network's origin."""
        x = np.radians(lon - self.origin[1]) * _EARTH_RADIUS_M * self._cos_lat
        y = np.radians(lat - self.origin[0]) * _EARTH_RADIUS_M
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

    def nearest(self, lat: FloatArray, lon: FloatArray, max_distance_m: float) -> RoadMatch:
        """The nearest segment's road within ``max_distance_m`` per sample (ties: lowest index)."""
        x, y = self.to_local(np.asarray(lat, float), np.asarray(lon, float))
        road = np.full(x.size, -1, dtype=np.int64)
        distance = np.full(x.size, np.nan)
        for i in range(x.size):
            if not (math.isfinite(x[i]) and math.isfinite(y[i])):
                continue
            candidates = sorted(
                {
                    s
                    for cx in range(
                        self._cell(x[i] - max_distance_m), self._cell(x[i] + max_distance_m) + 1
                    )
                    for cy in range(
                        self._cell(y[i] - max_distance_m), self._cell(y[i] + max_distance_m) + 1
                    )
                    for s in self._cells.get((cx, cy), ())
                }
            )
            if not candidates:
                continue
            seg = self.segments[candidates]
            d = point_segment_distance(x[i], y[i], seg)
            best = int(np.argmin(d))
            if d[best] <= max_distance_m:
                road[i] = self.road_of_segment[candidates[best]]
                distance[i] = d[best]
        return RoadMatch(road, distance)


def _project(
    lat: float, lon: float, lat0: float, lon0: float, cos_lat: float
) -> tuple[float, float]:
    return (
        math.radians(lon - lon0) * _EARTH_RADIUS_M * cos_lat,
        math.radians(lat - lat0) * _EARTH_RADIUS_M,
    )


def _number(value: Any) -> float | None:
    """``maxspeed`` as km/h: numbers, or OSM-style strings such as "50" or "30 mph"."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    try:
        if text.endswith("mph"):
            return round(float(text[:-3]) * 1.609344, 1)
        return float(text.removesuffix("km/h").strip())
    except ValueError:
        return None
