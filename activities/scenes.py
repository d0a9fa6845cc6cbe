"""Scene detection activities: validate the input dict, call ``dataops.scenes``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.runtime import blob_zones, metadata_store, settings
from activities.step_inputs import FailInput, PrepareInput, RunInput
from dataops import scenes
from dataops.scenes.config import DEFAULT_CONFIG_PATH

__all__ = ["fail", "prepare", "run"]


def prepare(params: dict[str, Any]) -> dict[str, Any]:
    """SCENES datastream PROCESSING (idempotent)."""
    args = PrepareInput.model_validate(params)
    return scenes.prepare_scene_detection(
        metadata_store(),
        source_datastream_id=args.source_datastream_id,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
    )


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Detect, upsert scenes, write the scenes and frames Delta tables, datastream COMPLETED."""
    args = RunInput.model_validate(params)
    configured = settings().scenes_config
    return scenes.run_scene_detection(
        blob_zones(),
        metadata_store(),
        datastream_id=args.datastream_id,
        config_path=Path(configured) if configured else DEFAULT_CONFIG_PATH,
    )


def fail(params: dict[str, Any]) -> dict[str, Any]:
    """SCENES datastream FAILED with the reason."""
    args = FailInput.model_validate(params)
    return scenes.fail_scene_detection(
        metadata_store(), datastream_id=args.datastream_id, reason=args.reason
    )
