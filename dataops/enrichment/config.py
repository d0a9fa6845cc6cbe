"""The enrichment config (``config/enrichment.json``): providers and their parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from dataops.config_files import CONFIG_DIR, ConfigModel, load_config
from dataops.paths import Zone

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DetectorConfig",
    "EnrichmentConfig",
    "MapConfig",
    "ObjectsConfig",
    "OpenMeteoConfig",
    "WeatherConfig",
    "load_enrichment_config",
]

DEFAULT_CONFIG_PATH = CONFIG_DIR / "enrichment.json"


class OpenMeteoConfig(ConfigModel):
    """The Open-Meteo client; see dataops/enrichment/weather_openmeteo.py."""

    archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    archive_lag_days: int = Field(default=5, ge=0)
    grid_deg: float = Field(default=0.01, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    cache_dir: str | None = Field(
        default=None, description="On-disk cache of archived days; null: per run only."
    )


class WeatherConfig(ConfigModel):
    """Which weather provider runs: the drive's offline table, Open-Meteo, or none."""

    provider: Literal["offline", "open-meteo", "none"] = "offline"
    table_name: str = Field(default="weather.csv", description="File name in the RAW datastream.")
    max_distance_km: float = Field(default=50.0, gt=0)
    max_age_s: float = Field(default=3600.0, gt=0)
    rain_threshold_mm: float = Field(
        default=0.1, ge=0, description="Precipitation at or above this: the frame is rainy."
    )
    open_meteo: OpenMeteoConfig = Field(default_factory=OpenMeteoConfig)


class MapConfig(ConfigModel):
    """Road matching and the H3 cell."""

    roads_name: str = Field(default="roads.geojson", description="File name in the RAW datastream.")
    max_distance_m: float = Field(default=30.0, gt=0)
    grid_cell_m: float = Field(default=100.0, gt=0)
    h3_resolution: int = Field(default=9, ge=0, le=15)


class DetectorConfig(ConfigModel):
    """An ONNX object detector run on the reference camera's frames (see docs/enrichment.md)."""

    model: str = Field(
        min_length=1,
        description="The .onnx file: a local path (relative: to the config file's folder), "
        "or a blob path in ``model_zone``.",
    )
    model_zone: Zone | None = Field(
        default=None, description="Zone holding ``model`` as a blob; null: a local file."
    )
    layout: Literal["boxes_scores_labels", "yolo"] = Field(
        description="boxes_scores_labels: three outputs, boxes x1,y1,x2,y2 in input pixels "
        "(torchvision-style); yolo: one [1, 4+C, N] or [1, N, 4+C] output of cx,cy,w,h and "
        "C class scores (Ultralytics)."
    )
    class_names: list[str] = Field(min_length=1, description="Model class index -> name.")
    label_offset: int = Field(
        default=0, description="Subtracted from boxes_scores_labels labels (1: torchvision)."
    )
    input_width: int = Field(default=640, gt=0, le=8192)
    input_height: int = Field(default=640, gt=0, le=8192)
    letterbox: bool = Field(
        default=True, description="Keep the aspect ratio and pad; false: stretch to the input."
    )
    pad_value: int = Field(default=114, ge=0, le=255)
    channel_order: Literal["rgb", "bgr"] = "rgb"
    scale: float = Field(default=1 / 255, gt=0, description="Pixel value factor, then mean/std.")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    output_names: list[str] | None = Field(
        default=None,
        description="boxes, scores, labels (or the one yolo output); null: the model's order.",
    )
    score_threshold: float = Field(default=0.25, ge=0, le=1)
    nms_iou: float = Field(default=0.45, gt=0, le=1)
    max_detections: int = Field(default=100, gt=0, description="Per frame, after NMS.")
    batch_size: int = Field(default=4, gt=0, le=64, description="Frames per inference call.")
    frame_stride: int = Field(
        default=1, gt=0, description="Run on every Nth reference frame (CPU inference is slow)."
    )
    threads: int = Field(default=1, ge=0, description="onnxruntime intra-op threads; 0: all.")

    @model_validator(mode="after")
    def _std_not_zero(self) -> DetectorConfig:
        if any(value == 0 for value in self.std):
            raise ValueError("std must not contain 0")
        return self


class ObjectsConfig(ConfigModel):
    """Where objects come from: perception topics (sensor globs), an optional detector."""

    sensors: list[str] = Field(default_factory=lambda: ["*/structured/*detections*"])
    detector: DetectorConfig | None = Field(
        default=None, description="ONNX detector settings; null: none configured."
    )


class EnrichmentConfig(ConfigModel):
    """The effective enrichment config."""

    weather: WeatherConfig = Field(default_factory=WeatherConfig)
    map: MapConfig = Field(default_factory=MapConfig)
    objects: ObjectsConfig = Field(default_factory=ObjectsConfig)
    night_sun_elevation_deg: float = Field(
        default=-6.0, description="Sun below this (civil twilight's end): night."
    )
    max_file_bytes: int = Field(default=256 * 1024 * 1024, gt=0)


def load_enrichment_config(path: Path = DEFAULT_CONFIG_PATH) -> EnrichmentConfig:
    """Read and check the config; InvalidInputError naming the field if it is wrong."""
    return load_config(EnrichmentConfig, path, "enrichment config")
