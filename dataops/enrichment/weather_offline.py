"""The offline weather provider: a CSV table of observations, nearest in space, then time.

Columns: ``time`` (ISO 8601 UTC), ``lat``, ``lon``, ``temperature_c``, ``precipitation_mm``,
``cloud_cover_pct``, ``weather_code``. Each distinct (lat, lon) is a station; a sample takes
the nearest station within ``max_distance_km`` and that station's row nearest in time within
``max_age_s`` (else NaN). Stations keep the lookup honest when a table covers a region.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime

import numpy as np

from dataops.enrichment.providers import FloatArray, Int64Array, WeatherTable
from dataops.errors import InvalidInputError

__all__ = ["COLUMNS", "OfflineWeather"]

COLUMNS = (
    "time",
    "lat",
    "lon",
    "temperature_c",
    "precipitation_mm",
    "cloud_cover_pct",
    "weather_code",
)
_VALUES = COLUMNS[3:]
_EARTH_RADIUS_KM = 6371.0


def _time_ns(text: str) -> int:
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone")
    return round(stamp.timestamp()) * 1_000_000_000


class OfflineWeather:
    """Weather from a table shipped with the drive (or a regional archive export)."""

    name = "offline-table"
    version = "1"

    def __init__(
        self,
        data: bytes,
        *,
        source: str = "weather.csv",
        max_distance_km: float = 50.0,
        max_age_s: float = 3600.0,
    ) -> None:
        """Parse the table; InvalidInputError naming the row if it is malformed."""
        self.source = source
        self.max_distance_km = max_distance_km
        self.max_age_ns = round(max_age_s * 1e9)
        reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
        missing = sorted(set(COLUMNS) - set(reader.fieldnames or ()))
        if missing:
            raise InvalidInputError(f"weather table lacks columns {missing}", source=source)
        by_station: dict[tuple[float, float], list[tuple[int, list[float]]]] = {}
        for number, row in enumerate(reader, start=2):
            try:
                key = (float(row["lat"]), float(row["lon"]))
                values = [float(row[c]) if row[c] != "" else math.nan for c in _VALUES]
                by_station.setdefault(key, []).append((_time_ns(row["time"]), values))
            except ValueError as err:
                raise InvalidInputError(
                    f"weather table row {number}: {err}", source=source
                ) from err
        if not by_station:
            raise InvalidInputError("weather table has no rows", source=source)
        self._stations = sorted(by_station)
        self._times: list[Int64Array] = []
        self._values: list[FloatArray] = []
        for key in self._stations:
            rows = sorted(by_station[key], key=lambda item: item[0])
            self._times.append(np.array([t for t, _ in rows], dtype=np.int64))
            self._values.append(np.array([v for _, v in rows], dtype=np.float64))

    def _nearest_station(self, lat: FloatArray, lon: FloatArray) -> Int64Array:
        """Index of the nearest station per sample (haversine), -1 if beyond the limit."""
        st_lat = np.radians(np.array([s[0] for s in self._stations]))[None, :]
        st_lon = np.radians(np.array([s[1] for s in self._stations]))[None, :]
        la = np.radians(lat)[:, None]
        lo = np.radians(lon)[:, None]
        h = (
            np.sin((st_lat - la) / 2) ** 2
            + np.cos(la) * np.cos(st_lat) * np.sin((st_lon - lo) / 2) ** 2
        )
        distance = 2 * _EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
        best = np.argmin(distance, axis=1) if len(self._stations) else np.zeros(lat.size, int)
        near = distance[np.arange(lat.size), best] <= self.max_distance_km
        return np.where(near & np.isfinite(lat) & np.isfinite(lon), best, -1).astype(np.int64)

    def conditions(self, lat: FloatArray, lon: FloatArray, times_ns: Int64Array) -> WeatherTable:
        """The nearest station's row nearest in time per sample; NaN if none is close."""
        out = np.full((lat.size, len(_VALUES)), np.nan)
        station = self._nearest_station(np.asarray(lat, float), np.asarray(lon, float))
        for index in np.unique(station[station >= 0]):
            picked = np.flatnonzero(station == index)
            times = self._times[int(index)]
            wanted = np.asarray(times_ns, dtype=np.int64)[picked]
            right = np.clip(np.searchsorted(times, wanted), 0, times.size - 1)
            left = np.clip(right - 1, 0, times.size - 1)
            # Ties go to the earlier row: the observation already made at that time.
            closer_left = np.abs(wanted - times[left]) <= np.abs(times[right] - wanted)
            nearest = np.where(closer_left, left, right)
            fresh = np.abs(times[nearest] - wanted) <= self.max_age_ns
            out[picked[fresh]] = self._values[int(index)][nearest[fresh]]
        return WeatherTable(out[:, 0], out[:, 1], out[:, 2], out[:, 3])
