"""The weather provider protocol and the per-frame weather table every provider returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "Int64Array", "WeatherProvider", "WeatherTable"]

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WeatherTable:
    """Weather per queried sample; NaN where the provider has nothing for it."""

    temperature_c: FloatArray
    precipitation_mm: FloatArray
    cloud_cover_pct: FloatArray
    weather_code: FloatArray  # WMO code; float so that "unknown" can be NaN

    @classmethod
    def unknown(cls, size: int) -> WeatherTable:
        """All NaN: no provider, or it had no data."""
        nan = np.full(size, np.nan)
        return cls(nan, nan.copy(), nan.copy(), nan.copy())


class WeatherProvider(Protocol):
    """Where weather comes from: an offline table, a web service, ..."""

    @property
    def name(self) -> str:
        """Stable provider name, recorded in the ENRICHED datastream's stats."""
        ...

    @property
    def version(self) -> str:
        """Provider version (data set or API version), recorded next to the name."""
        ...

    def conditions(self, lat: FloatArray, lon: FloatArray, times_ns: Int64Array) -> WeatherTable:
        """Weather at each (lat, lon, time); equal-length inputs, NaN position: NaN weather."""
        ...
