"""Solar elevation from position and UTC time (NOAA's solar calculator formulas).

Vectorised over frames. The result is the geometric elevation of the sun's centre (no
atmospheric refraction, which adds at most ~0.6° near the horizon): good to a fraction of a
degree, which is plenty for day / twilight / night decisions.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["NAME", "VERSION", "sun_elevation_deg"]

NAME = "noaa-solar"
VERSION = "1"

FloatArray = npt.NDArray[np.float64]


def sun_elevation_deg(
    lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, times_ns: npt.ArrayLike
) -> FloatArray:
    """Elevation of the sun above the horizon in degrees (negative: below) per sample."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.asarray(lon_deg, dtype=np.float64)
    seconds = np.asarray(times_ns, dtype=np.int64) / 1e9
    julian_day = seconds / 86_400.0 + 2_440_587.5
    jc = (julian_day - 2_451_545.0) / 36_525.0  # Julian centuries since J2000
    mean_long = np.mod(280.46646 + jc * (36_000.76983 + jc * 0.0003032), 360.0)
    mean_anom = 357.52911 + jc * (35_999.05029 - 0.0001537 * jc)
    ecc = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    m = np.radians(mean_anom)
    centre = (
        np.sin(m) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + np.sin(2 * m) * (0.019993 - 0.000101 * jc)
        + np.sin(3 * m) * 0.000289
    )
    omega = np.radians(125.04 - 1934.136 * jc)
    apparent_long = mean_long + centre - 0.00569 - 0.00478 * np.sin(omega)
    mean_obliquity = (
        23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60) / 60
    )
    obliquity = np.radians(mean_obliquity + 0.00256 * np.cos(omega))
    declination = np.arcsin(np.sin(obliquity) * np.sin(np.radians(apparent_long)))
    y = np.tan(obliquity / 2) ** 2
    l0 = np.radians(mean_long)
    equation_of_time_min = 4 * np.degrees(
        y * np.sin(2 * l0)
        - 2 * ecc * np.sin(m)
        + 4 * ecc * y * np.sin(m) * np.cos(2 * l0)
        - 0.5 * y * y * np.sin(4 * l0)
        - 1.25 * ecc * ecc * np.sin(2 * m)
    )
    minutes_utc = np.mod(seconds, 86_400.0) / 60.0
    true_solar_min = np.mod(minutes_utc + equation_of_time_min + 4 * lon, 1440.0)
    hour_angle = np.radians(true_solar_min / 4 - 180.0)
    cos_zenith = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(
        hour_angle
    )
    return np.asarray(90.0 - np.degrees(np.arccos(np.clip(cos_zenith, -1.0, 1.0))), np.float64)
