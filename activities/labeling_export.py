"""Labeling export activities: validate the input dict, call ``dataops.labeling.export_steps``."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from activities.runtime import blob_zones, metadata_store, settings
from dataops.frames.search import FrameSearch
from dataops.labeling import export_steps
from dataops.scenes.config import DEFAULT_CONFIG_PATH, load_scene_config
from dataops.storage import BlobZones

__all__ = ["copy", "fail", "finish", "plan"]

_CACHE = Path(tempfile.gettempdir()) / "avops-frame-index"


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    export_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class PlanInput(_Input):
    instance_id: str


class CopyInput(_Input):
    first: Annotated[int, Field(ge=0)]
    last: Annotated[int, Field(ge=0)]


class FailInput(_Input):
    reason: str


@functools.lru_cache(maxsize=1)
def _frame_search(zones: BlobZones) -> FrameSearch:
    # Keyed by the zones object: runtime.reset() gives new clients, and so a new search.
    return FrameSearch(zones, _CACHE)


def plan(params: dict[str, Any]) -> dict[str, Any]:
    """Selection -> ``_plan.json``; LABEL_EXPORT datastreams PROCESSING."""
    args = PlanInput.model_validate(params)
    current = settings()
    config_path = Path(current.scenes_config) if current.scenes_config else DEFAULT_CONFIG_PATH
    zones = blob_zones()
    return export_steps.plan_export(
        zones,
        metadata_store(),
        _frame_search(zones),
        export_id=args.export_id,
        instance_id=args.instance_id,
        max_items=current.label_export_max_items,
        detections_sensor=load_scene_config(config_path).detections_sensor,
        cache_dir=_CACHE,
    )


def copy(params: dict[str, Any]) -> dict[str, Any]:
    """Copy plan items [first, last) into the package."""
    args = CopyInput.model_validate(params)
    return export_steps.copy_items(
        blob_zones(), export_id=args.export_id, first=args.first, last=args.last
    )


def finish(params: dict[str, Any]) -> dict[str, Any]:
    """coco.json, openlabel.json, package.json; datastreams COMPLETED."""
    args = _Input.model_validate(params)
    return export_steps.finish_export(blob_zones(), metadata_store(), export_id=args.export_id)


def fail(params: dict[str, Any]) -> dict[str, Any]:
    """Datastreams FAILED with the reason."""
    args = FailInput.model_validate(params)
    return export_steps.fail_export(
        blob_zones(), metadata_store(), export_id=args.export_id, reason=args.reason
    )
