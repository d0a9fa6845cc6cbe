"""The scene detection config (``config/scenes.json``): thresholds of every rule-based detector.

Each detector uses hysteresis (a span needs one sample past ``enter`` and lasts while the
signal stays past ``exit``), a minimum duration and a merge gap; see docs/scenes.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from dataops.config_files import CONFIG_DIR, ConfigModel, load_config

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "FlagRule",
    "LaneChangeRule",
    "ObjectRule",
    "SceneConfig",
    "ThresholdRule",
    "TurnRule",
    "load_scene_config",
]

DEFAULT_CONFIG_PATH = CONFIG_DIR / "scenes.json"


class _Rule(ConfigModel):
    """What every scene rule has: how long a span must last and which gaps it bridges."""

    min_duration_s: float = Field(default=0.0, ge=0)
    merge_gap_s: float = Field(default=0.5, ge=0, description="Closer spans become one.")


class ThresholdRule(_Rule):
    """A signal past ``enter`` (and then past ``exit``); below or above by their order."""

    enter: float
    exit: float


class TurnRule(_Rule):
    """Sustained yaw rate, and a minimum heading change over the span."""

    enter_dps: float = Field(gt=0)
    exit_dps: float = Field(gt=0)
    min_heading_change_deg: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.exit_dps > self.enter_dps:
            raise ValueError("exit_dps must not be above enter_dps")
        return self


class LaneChangeRule(ConfigModel):
    """Two opposite yaw-rate lobes (steer out, steer back) with a small net heading change."""

    enter_dps: float = Field(gt=0)
    exit_dps: float = Field(gt=0)
    min_lobe_s: float = Field(ge=0)
    max_lobe_s: float = Field(gt=0)
    max_lobe_gap_s: float = Field(ge=0)
    min_lobe_heading_deg: float = Field(ge=0)
    max_lobe_heading_deg: float = Field(gt=0)
    max_net_heading_ratio: float = Field(ge=0, le=1)
    min_speed_mps: float = Field(ge=0)
    baseline_window_s: float = Field(
        default=10.0, ge=0, description="Rolling median of the yaw rate taken as road curvature."
    )


class ObjectRule(_Rule):
    """Frames whose detections include one of ``classes``."""

    classes: list[str] = Field(min_length=1)


class FlagRule(_Rule):
    """Frames where an enriched boolean column is true."""


class SceneConfig(ConfigModel):
    """The effective scene detection config."""

    hard_brake: ThresholdRule
    stop: ThresholdRule
    high_speed: ThresholdRule
    turn: TurnRule
    lane_change: LaneChangeRule
    pedestrian_in_view: ObjectRule
    night: FlagRule
    rain: FlagRule
    detections_sensor: str = Field(
        default="*/structured/*detections*",
        description="Glob on the synchronized sensor whose matched rows hold the detections.",
    )
    max_file_bytes: int = Field(
        default=256 * 1024 * 1024, gt=0, description="Largest table read whole."
    )


def load_scene_config(path: Path = DEFAULT_CONFIG_PATH) -> SceneConfig:
    """Read and check the config; InvalidInputError naming the field if it is wrong."""
    return load_config(SceneConfig, path, "scene config")
