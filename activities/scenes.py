"""Scene detection activities: typed step input -> ``dataops.scenes``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.erased import refuse_erased_source
from activities.runtime import blob_zones, metadata_store, settings
from activities.serving import served
from dataops import scenes
from dataops.activity_contracts.steps import DETECT_SCENES, FailInput, PrepareInput, RunInput
from dataops.scenes.config import DEFAULT_CONFIG_PATH

__all__ = ["fail", "prepare", "run"]


@served(DETECT_SCENES.prepare)
def prepare(args: PrepareInput) -> dict[str, Any]:
    """SCENES datastream PROCESSING (idempotent)."""
    refuse_erased_source(args.source_datastream_id)
    return scenes.prepare_scene_detection(
        metadata_store(),
        source_datastream_id=args.source_datastream_id,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
    )


@served(DETECT_SCENES.run)
def run(args: RunInput) -> dict[str, Any]:
    """Detect, upsert scenes, write the scenes and frames Delta tables, datastream COMPLETED."""
    configured = settings().scenes_config
    return scenes.run_scene_detection(
        blob_zones(),
        metadata_store(),
        datastream_id=args.datastream_id,
        config_path=Path(configured) if configured else DEFAULT_CONFIG_PATH,
    )


@served(DETECT_SCENES.fail)
def fail(args: FailInput) -> dict[str, Any]:
    """SCENES datastream FAILED with the reason."""
    return scenes.fail_scene_detection(
        metadata_store(), datastream_id=args.datastream_id, reason=args.reason
    )
