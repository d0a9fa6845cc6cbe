"""Enrichment activities: validate the input dict, call ``dataops.enrichment``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.runtime import blob_zones, metadata_store, settings
from activities.step_inputs import FailInput, PrepareInput, RunInput
from dataops import enrichment
from dataops.enrichment.config import DEFAULT_CONFIG_PATH

__all__ = ["fail", "prepare", "run"]


def prepare(params: dict[str, Any]) -> dict[str, Any]:
    """ENRICHED datastream PROCESSING (idempotent)."""
    args = PrepareInput.model_validate(params)
    return enrichment.prepare_enrichment(
        metadata_store(),
        source_datastream_id=args.source_datastream_id,
        datastream_id=args.datastream_id,
        instance_id=args.instance_id,
    )


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Enrich every frame, write the Parquet to curated, ENRICHED datastream COMPLETED."""
    args = RunInput.model_validate(params)
    configured = settings().enrichment_config
    return enrichment.run_enrichment(
        blob_zones(),
        metadata_store(),
        datastream_id=args.datastream_id,
        config_path=Path(configured) if configured else DEFAULT_CONFIG_PATH,
    )


def fail(params: dict[str, Any]) -> dict[str, Any]:
    """ENRICHED datastream FAILED with the reason."""
    args = FailInput.model_validate(params)
    return enrichment.fail_enrichment(
        metadata_store(), datastream_id=args.datastream_id, reason=args.reason
    )
