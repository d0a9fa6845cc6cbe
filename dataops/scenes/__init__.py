"""Scene detection: rule-based detectors over synchronized (and enriched) per-frame signals."""

from __future__ import annotations

from dataops.scenes.config import SceneConfig, load_scene_config
from dataops.scenes.steps import (
    fail_scene_detection,
    prepare_scene_detection,
    run_scene_detection,
    scene_id,
)

__all__ = [
    "SceneConfig",
    "fail_scene_detection",
    "load_scene_config",
    "prepare_scene_detection",
    "run_scene_detection",
    "scene_id",
]
