"""Synchronization activities: typed step input -> ``dataops.synchronization``."""

from __future__ import annotations

from typing import Any

from activities.erased import refuse_erased_source
from activities.runtime import blob_zones, metadata_store
from activities.serving import served
from dataops import synchronization
from dataops.activity_contracts.steps import SYNCHRONIZE, FailInput, PrepareInput, RunInput

__all__ = ["fail", "prepare", "run"]


@served(SYNCHRONIZE.prepare)
def prepare(args: PrepareInput) -> dict[str, Any]:
    """SYNCHRONIZED datastream PROCESSING (idempotent)."""
    refuse_erased_source(args.source_datastream_id)
    return synchronization.prepare_synchronization(
        metadata_store(),
        source_datastream_id=args.source_datastream_id,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
    )


@served(SYNCHRONIZE.run)
def run(args: RunInput) -> dict[str, Any]:
    """Align, write the Parquet to curated, attach it, SYNCHRONIZED datastream COMPLETED."""
    return synchronization.run_synchronization(
        blob_zones(), metadata_store(), datastream_id=args.datastream_id
    )


@served(SYNCHRONIZE.fail)
def fail(args: FailInput) -> dict[str, Any]:
    """SYNCHRONIZED datastream FAILED with the reason."""
    return synchronization.fail_synchronization(
        metadata_store(), datastream_id=args.datastream_id, reason=args.reason
    )
