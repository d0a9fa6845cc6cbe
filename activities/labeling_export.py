"""Labeling export activities: typed input -> ``dataops.labeling.exporting.steps``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from activities.runtime import blob_zones, metadata_store, settings
from activities.serving import served
from dataops.activity_contracts import labeling as contracts
from dataops.frames.search import FrameSearch
from dataops.frames.tables import TABLE_CACHE_DIR
from dataops.labeling.exporting.steps import copy_items, fail_export, finish_export, plan_export
from dataops.scenes.config import DEFAULT_CONFIG_PATH, load_scene_config
from dataops.storage import BlobZones

__all__ = ["copy", "fail", "finish", "plan"]


@functools.lru_cache(maxsize=1)
def _frame_search(zones: BlobZones) -> FrameSearch:
    # Keyed by the zones object: runtime.reset() gives new clients, and so a new search.
    return FrameSearch(zones, TABLE_CACHE_DIR)


@served(contracts.EXPORT_PLAN)
def plan(args: contracts.ExportPlanInput) -> dict[str, Any]:
    """Selection -> ``_plan.json``; LABEL_EXPORT datastreams PROCESSING."""
    current = settings()
    config_path = Path(current.scenes_config) if current.scenes_config else DEFAULT_CONFIG_PATH
    zones = blob_zones()
    return plan_export(
        zones,
        metadata_store(),
        _frame_search(zones),
        export_id=args.export_id,
        instance_id=args.instance_id,
        max_items=current.label_export_max_items,
        detections_sensor=load_scene_config(config_path).detections_sensor,
        cache_dir=TABLE_CACHE_DIR,
    )


@served(contracts.EXPORT_COPY)
def copy(args: contracts.ExportCopyInput) -> dict[str, Any]:
    """Copy plan items [first, last) into the package."""
    return copy_items(blob_zones(), export_id=args.export_id, first=args.first, last=args.last)


@served(contracts.EXPORT_FINISH)
def finish(args: contracts.ExportInput) -> dict[str, Any]:
    """coco.json, openlabel.json, package.json; datastreams COMPLETED."""
    return finish_export(blob_zones(), metadata_store(), export_id=args.export_id)


@served(contracts.EXPORT_FAIL)
def fail(args: contracts.ExportFailInput) -> dict[str, Any]:
    """Datastreams FAILED with the reason."""
    return fail_export(blob_zones(), metadata_store(), export_id=args.export_id, reason=args.reason)
