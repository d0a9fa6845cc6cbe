"""The Open-Meteo weather provider (deployments with internet), with a per-day cache.

One request per (rounded position, UTC day) fetches that day's hourly values; every frame
then takes its nearest hour. Positions are rounded to ``grid_deg`` (0.01° ~ 1 km, finer than
the model grid), so a whole drive is usually one or two requests. Days older than
``archive_lag_days`` come from the archive API and are final, so they are also cached on disk;
recent days come from the forecast API and are cached for the run only, because they may still
be revised.
"""

from __future__ import annotations

import json
import math
from dataclasses import KW_ONLY, InitVar, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from dataops.enrichment.providers import FloatArray, Int64Array, WeatherTable
from dataops.errors import InvalidInputError

__all__ = ["HOURLY", "OpenMeteoWeather"]

HOURLY = ("temperature_2m", "precipitation", "cloud_cover", "weather_code")
_HOUR_NS = 3_600_000_000_000
_DAY_NS = 24 * _HOUR_NS

Key = tuple[float, float, str]  # rounded lat, rounded lon, UTC day (YYYY-MM-DD)


@dataclass(eq=False)
class OpenMeteoWeather:
    """Hourly weather from open-meteo.com, nearest hour per frame.

    ``now`` and ``client`` are for tests; the cache dir is created on first write.
    """

    name = "open-meteo"
    version = "v1"

    _: KW_ONLY
    archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    archive_lag_days: int = 5
    grid_deg: float = 0.01
    timeout_s: InitVar[float] = 10.0
    cache_dir: Path | None = None
    client: InitVar[httpx.Client | None] = None
    now: InitVar[datetime | None] = None
    requests: int = field(default=0, init=False)
    """HTTP requests made: observable cache behaviour."""
    _memory: dict[Key, dict[int, list[float]]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(
        self, timeout_s: float, client: httpx.Client | None, now: datetime | None
    ) -> None:
        self._client = client or httpx.Client(timeout=timeout_s)
        self._now = now

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def _round(self, value: float) -> float:
        return round(round(value / self.grid_deg) * self.grid_deg, 6)

    def conditions(self, lat: FloatArray, lon: FloatArray, times_ns: Int64Array) -> WeatherTable:
        """Nearest-hour weather per sample; NaN where the position is unknown."""
        out = np.full((lat.size, len(HOURLY)), np.nan)
        times = np.asarray(times_ns, dtype=np.int64)
        hours = (times + _HOUR_NS // 2) // _HOUR_NS * _HOUR_NS
        for i in range(lat.size):
            if not (math.isfinite(float(lat[i])) and math.isfinite(float(lon[i]))):
                continue
            hour = int(hours[i])
            day = datetime.fromtimestamp(hour // 1_000_000_000, UTC).strftime("%Y-%m-%d")
            values = self._day((self._round(float(lat[i])), self._round(float(lon[i])), day))
            if hour in values:
                out[i] = values[hour]
        return WeatherTable(out[:, 0], out[:, 1], out[:, 2], out[:, 3])

    def _day(self, key: Key) -> dict[int, list[float]]:
        cached = self._memory.get(key)
        if cached is not None:
            return cached
        path = self._cache_path(key)
        if path is not None and path.is_file():
            document = json.loads(path.read_text())
        else:
            archived = self._is_archived(key[2])
            document = self._fetch(key, self.archive_url if archived else self.forecast_url)
            if path is not None and archived:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(document, sort_keys=True))
        values = _parse(document)
        self._memory[key] = values
        return values

    def _cache_path(self, key: Key) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{key[0]:.4f}_{key[1]:.4f}_{key[2]}.json"

    def _is_archived(self, day: str) -> bool:
        now = self._now or datetime.now(UTC)
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        return start + timedelta(days=1 + self.archive_lag_days) <= now

    def _fetch(self, key: Key, url: str) -> dict[str, Any]:
        params = {
            "latitude": f"{key[0]:.4f}",
            "longitude": f"{key[1]:.4f}",
            "start_date": key[2],
            "end_date": key[2],
            "hourly": ",".join(HOURLY),
            "timezone": "UTC",
            "timeformat": "unixtime",
        }
        self.requests += 1
        try:
            response = self._client.get(url, params=params)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as err:
            raise InvalidInputError(f"Open-Meteo request failed: {err}", source=url) from err
        if not isinstance(document, dict) or not isinstance(document.get("hourly"), dict):
            raise InvalidInputError("Open-Meteo answer has no 'hourly' object", source=url)
        return document


def _parse(document: dict[str, Any]) -> dict[int, list[float]]:
    """UNIX-ns hour -> values in :data:`HOURLY` order (None from the API becomes NaN)."""
    hourly = document["hourly"]
    times = hourly.get("time") or []
    columns = [hourly.get(name) or [None] * len(times) for name in HOURLY]
    return {
        int(t) * 1_000_000_000: [math.nan if c[i] is None else float(c[i]) for c in columns]
        for i, t in enumerate(times)
    }
