"""Per-process singletons for activities: settings, metadata store, blob zones.

Built lazily on first use (never at import time, so indexing the app reads no environment) and
shared by every activity the process runs. :func:`reset` drops them (tests, settings changes).
"""

from __future__ import annotations

import functools
from typing import Any

from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.store.factory import open_store

__all__ = [
    "blob_zones",
    "ingest_start_input",
    "landing_container",
    "metadata_store",
    "reset",
    "settings",
]


@functools.cache
def settings() -> Settings:
    """The app settings from the environment (app settings in Azure)."""
    return Settings()


@functools.cache
def metadata_store() -> MetadataStore:
    """The configured metadata store backend."""
    return open_store(settings())


@functools.cache
def blob_zones() -> BlobZones:
    """Blob clients for every zone."""
    return BlobZones.from_settings(settings())


def landing_container() -> str:
    """Name of the container that holds the landing zone (what Event Grid subjects name)."""
    return blob_zones().container_name(Zone.LANDING)


def ingest_start_input(upload_prefix: str, *, sources: list[str] | None = None) -> dict[str, Any]:
    """Orchestrator input for one upload: settings it needs are passed in, not read in replay.

    ``sources`` are the datastreams of an earlier run that a rerun replaces (lineage).
    """
    current = settings()
    return {
        "upload_prefix": upload_prefix,
        "late_file_deadline_minutes": current.late_file_deadline_minutes,
        "sources": sources or [],
    }


def reset() -> None:
    """Forget the singletons (closing what they opened)."""
    if metadata_store.cache_info().currsize:
        metadata_store().close()
    if blob_zones.cache_info().currsize:
        blob_zones().close()
    for cached in (settings, metadata_store, blob_zones):
        cached.cache_clear()
