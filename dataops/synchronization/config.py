"""The synchronization config (``config/synchronization.json``): reference, tolerances, signals.

Sensors are named by their folder in the extracted zone, ``<recording>/<kind>/<stream>``
(e.g. ``ros1_drive.bag/camera/camera_front_image_raw_compressed``); every pattern in the config
is an ``fnmatch`` glob on that name.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

from pydantic import Field, field_validator

from dataops.config_files import CONFIG_DIR, ConfigModel, load_config

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Signal",
    "SignalSource",
    "SynchronizationConfig",
    "load_synchronization_config",
]

DEFAULT_CONFIG_PATH = CONFIG_DIR / "synchronization.json"
# The extraction kinds that produce time-stamped tables (docs/extract-worker.md).
KNOWN_KINDS = frozenset({"structured", "gps", "imu", "camera", "lidar", "radar", "can"})


class SignalSource(ConfigModel):
    """One place a continuous signal may come from: a column of a sensor's table."""

    sensor: str = Field(default="*", description="Glob on the sensor name.")
    column: str = Field(min_length=1)
    scale: float = Field(default=1.0, description="Multiplied in, e.g. 1/3.6 for km/h -> m/s.")


class Signal(ConfigModel):
    """An interpolated output column; the first source (in order) that a sensor has wins."""

    name: str = Field(min_length=1, max_length=64)
    sources: list[SignalSource] = Field(min_length=1)
    max_gap_ms: float = Field(
        default=500.0, gt=0, description="Bracketing samples further apart: null (dropout)."
    )


class SynchronizationConfig(ConfigModel):
    """The effective synchronization config."""

    reference: str | None = Field(
        default=None,
        description="Glob on the reference sensor's name; null: the lowest-rate camera.",
    )
    kinds: list[str] = Field(default_factory=lambda: ["camera", "lidar", "radar", "gps", "imu"])
    default_tolerance_ms: float = Field(default=50.0, ge=0)
    tolerances_ms: dict[str, float] = Field(
        default_factory=dict, description="Per kind: nearest sample farther away is no match."
    )
    sensor_tolerances_ms: dict[str, float] = Field(
        default_factory=dict, description="Per sensor glob (first match wins), before kinds."
    )
    signals: list[Signal] = Field(default_factory=list)
    max_file_bytes: int = Field(
        default=256 * 1024 * 1024, gt=0, description="Largest extracted table read whole."
    )

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - KNOWN_KINDS)
        if unknown:
            raise ValueError(f"unknown kinds: {unknown}")
        if "camera" not in value:
            raise ValueError("'camera' must be among the kinds: the reference is a camera")
        return value

    @field_validator("tolerances_ms", "sensor_tolerances_ms")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        negative = sorted(key for key, ms in value.items() if ms < 0)
        if negative:
            raise ValueError(f"negative tolerances for {negative}")
        return value

    @field_validator("signals")
    @classmethod
    def _unique_signals(cls, value: list[Signal]) -> list[Signal]:
        names = [signal.name for signal in value]
        if len(set(names)) != len(names):
            raise ValueError("signal names must be unique")
        return value

    def tolerance_ns(self, sensor: str, kind: str) -> int:
        """The match tolerance of one sensor: its glob, else its kind, else the default."""
        for pattern, ms in self.sensor_tolerances_ms.items():
            if fnmatchcase(sensor, pattern):
                return round(ms * 1e6)
        return round(self.tolerances_ms.get(kind, self.default_tolerance_ms) * 1e6)


def load_synchronization_config(path: Path = DEFAULT_CONFIG_PATH) -> SynchronizationConfig:
    """Read and check the config; InvalidInputError naming the field if it is wrong."""
    return load_config(SynchronizationConfig, path, "synchronization config")
