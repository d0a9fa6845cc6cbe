"""Clip activities: typed input -> ``dataops.clips.steps``."""

from __future__ import annotations

from typing import Any

from activities.runtime import blob_zones, metadata_store, settings
from activities.serving import served
from dataops.activity_contracts import clips as contracts
from dataops.clips import steps

__all__ = ["fail", "write"]


@served(contracts.CLIP_WRITE)
def write(args: contracts.ClipInput) -> dict[str, Any]:
    """Stream the recordings' window into one MCAP in the share zone; links to it."""
    return steps.write_measurement_clip(
        blob_zones(),
        metadata_store(),
        datastream_id=args.datastream_id,
        link_hours=settings().clip_link_hours,
    )


@served(contracts.CLIP_FAIL)
def fail(args: contracts.ClipFailInput) -> dict[str, Any]:
    """The CLIP datastream FAILED with the reason."""
    return steps.fail_clip(metadata_store(), datastream_id=args.datastream_id, reason=args.reason)
