"""Synchronization activities: validate the input dict, call ``dataops.synchronization``."""

from __future__ import annotations

from typing import Any

from activities.runtime import blob_zones, metadata_store
from activities.step_inputs import FailInput, PrepareInput, RunInput
from dataops import synchronization

__all__ = ["fail", "prepare", "run"]


def prepare(params: dict[str, Any]) -> dict[str, Any]:
    """SYNCHRONIZED datastream PROCESSING (idempotent)."""
    args = PrepareInput.model_validate(params)
    return synchronization.prepare_synchronization(
        metadata_store(),
        source_datastream_id=args.source_datastream_id,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
    )


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Align, write the Parquet to curated, attach it, SYNCHRONIZED datastream COMPLETED."""
    args = RunInput.model_validate(params)
    return synchronization.run_synchronization(
        blob_zones(), metadata_store(), datastream_id=args.datastream_id
    )


def fail(params: dict[str, Any]) -> dict[str, Any]:
    """SYNCHRONIZED datastream FAILED with the reason."""
    args = FailInput.model_validate(params)
    return synchronization.fail_synchronization(
        metadata_store(), datastream_id=args.datastream_id, reason=args.reason
    )
