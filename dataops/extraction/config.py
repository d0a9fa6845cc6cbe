"""The extraction config: which task kinds run for which recording format, retries, deadlines.

One checked-in file (``config/extraction.json``). Per project or per vehicle, an entry under
``"overrides"`` (``"project:<name>"`` or ``"vehicle:<VIN>"``) replaces the top-level keys it
names (a shallow merge: an override of ``formats`` replaces the whole table). Vehicle overrides
apply after project ones, so the more specific one wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dataops.config_files import read_config, validated
from dataops.errors import InvalidInputError
from dataops.models.manifest import RECORDING_FORMATS

__all__ = ["DEFAULT_CONFIG_PATH", "VALIDATE", "ExtractionConfig", "load_extraction_config"]

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "extraction.json"
VALIDATE = "validate"
# The kinds the worker knows (docs/extract-worker.md); a typo in the config fails at load,
# not as an exit-2 task in the middle of a run.
KNOWN_KINDS = frozenset(
    {"validate", "metadata", "structured", "gps", "imu", "camera", "lidar", "radar", "can"}
)


class ExtractionConfig(BaseModel):
    """The effective config for one measurement (overrides already applied)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    formats: dict[str, list[str]] = Field(
        description="Recording format -> task kinds; the first kind must be 'validate'."
    )
    max_retries: int = Field(default=2, ge=0, le=10)
    task_deadline_s: int = Field(
        default=3600, ge=1, description="Wall clock limit of one task attempt, per kind."
    )
    combine_kinds_max_mb: int = Field(
        default=512,
        ge=0,
        description=(
            "A recording of at most this many MB (10^6 bytes, all its files) gets one task "
            "running all its kinds; a larger one a task per kind. 0: a task per kind always."
        ),
    )

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for fmt, kinds in value.items():
            if fmt not in RECORDING_FORMATS:
                raise ValueError(f"{fmt!r} is not a recording format")
            if not kinds or kinds[0] != VALIDATE:
                raise ValueError(f"the task kinds of {fmt!r} must start with {VALIDATE!r}")
            unknown = sorted(set(kinds) - KNOWN_KINDS)
            if unknown:
                raise ValueError(f"unknown task kinds for {fmt!r}: {unknown}")
            if len(set(kinds)) != len(kinds):
                raise ValueError(f"duplicate task kinds for {fmt!r}")
        return value

    def kinds_for(self, fmt: str) -> list[str]:
        """Task kinds for a recording format; an empty list if the format is not extracted."""
        return list(self.formats.get(fmt, []))


def load_extraction_config(
    path: Path = DEFAULT_CONFIG_PATH, *, project: str | None = None, vehicle_id: str | None = None
) -> ExtractionConfig:
    """Read the config and apply the project's, then the vehicle's overrides."""
    raw = read_config(path, "extraction config")
    if not isinstance(raw, dict):
        raise InvalidInputError("the extraction config must be a JSON object", source=str(path))
    overrides: dict[str, Any] = raw.pop("overrides", {}) or {}
    merged = dict(raw)
    keys = []
    if project:
        keys.append(f"project:{project}")
    if vehicle_id:
        keys.append(f"vehicle:{vehicle_id}")
    for key in keys:
        override = overrides.get(key)
        if override is None:
            continue
        if not isinstance(override, dict):
            raise InvalidInputError(f"override {key!r} must be an object", source=str(path))
        merged.update(override)
    return validated(ExtractionConfig, merged, source=str(path))
