"""Enrichment activities: typed step input -> ``dataops.enrichment``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.erased import refuse_erased_source
from activities.runtime import blob_zones, metadata_store, settings
from activities.serving import served
from dataops import enrichment
from dataops.activity_contracts.steps import ENRICH, FailInput, PrepareInput, RunInput
from dataops.enrichment.config import DEFAULT_CONFIG_PATH

__all__ = ["fail", "prepare", "run"]


@served(ENRICH.prepare)
def prepare(args: PrepareInput) -> dict[str, Any]:
    """ENRICHED datastream PROCESSING (idempotent)."""
    refuse_erased_source(args.source_datastream_id)
    return enrichment.prepare_enrichment(
        metadata_store(),
        source_datastream_id=args.source_datastream_id,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
    )


@served(ENRICH.run)
def run(args: RunInput) -> dict[str, Any]:
    """Enrich every frame, write the Parquet to curated, ENRICHED datastream COMPLETED."""
    configured = settings().enrichment_config
    return enrichment.run_enrichment(
        blob_zones(),
        metadata_store(),
        datastream_id=args.datastream_id,
        config_path=Path(configured) if configured else DEFAULT_CONFIG_PATH,
    )


@served(ENRICH.fail)
def fail(args: FailInput) -> dict[str, Any]:
    """ENRICHED datastream FAILED with the reason."""
    return enrichment.fail_enrichment(
        metadata_store(), datastream_id=args.datastream_id, reason=args.reason
    )
