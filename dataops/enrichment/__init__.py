"""Enrichment: per-frame weather, map context, sun elevation and objects (docs/enrichment.md)."""

from __future__ import annotations

from dataops.enrichment.config import EnrichmentConfig, load_enrichment_config
from dataops.enrichment.providers import WeatherProvider, WeatherTable
from dataops.enrichment.steps import fail_enrichment, prepare_enrichment, run_enrichment

__all__ = [
    "EnrichmentConfig",
    "WeatherProvider",
    "WeatherTable",
    "fail_enrichment",
    "load_enrichment_config",
    "prepare_enrichment",
    "run_enrichment",
]
