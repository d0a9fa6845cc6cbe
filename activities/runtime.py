"""Per-process singletons for activities: settings, metadata store, blob zones, batch backend.

Built lazily on first use (never at import time, so indexing the app reads no environment) and
shared by every activity the process runs. :func:`reset` drops them (tests, settings changes).
"""

from __future__ import annotations

import functools
from typing import Any

from dataops.batch import BatchBackend, open_batch_backend
from dataops.batch.factory import azure_task_settings
from dataops.paths import Zone
from dataops.settings import BatchBackend as BatchBackendKind
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.store.factory import open_store

__all__ = [
    "batch_backend",
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


@functools.cache
def batch_backend() -> BatchBackend:
    """The batch backend extraction jobs are submitted to (submit/status/cancel only).

    Locally the tasks reach the zones through their Azurite container URLs; the scheduler
    that runs them lives outside the app (devhost/batch_runner.py), as Azure Batch does. In
    Azure the tasks run the worker image from the AVOPS_BATCH_* settings and read the zones
    through the pool's NFS mounts.
    """
    current = settings()
    if current.batch_backend is BatchBackendKind.AZURE:
        return open_batch_backend(current, azure_tasks=azure_task_settings(current))
    zones = blob_zones()
    return open_batch_backend(
        current,
        zone_roots={
            Zone.RAW.value: zones.container_url(Zone.RAW),
            Zone.EXTRACTED.value: zones.container_url(Zone.EXTRACTED),
        },
    )


def landing_container() -> str:
    """Name of the container that holds the landing zone (what Event Grid subjects name)."""
    return blob_zones().container_name(Zone.LANDING)


def ingest_start_input(
    upload_prefix: str, *, sources: list[str] | None = None, event_etag: str | None = None
) -> dict[str, Any]:
    """Orchestrator input for one upload: settings it needs are passed in, not read in replay.

    ``sources`` are the datastreams of an earlier run that a rerun replaces (lineage);
    ``event_etag`` is the manifest eTag named by the storage event that started the run.
    """
    current = settings()
    return {
        "upload_prefix": upload_prefix,
        "event_etag": event_etag,
        "late_file_deadline_minutes": current.late_file_deadline_minutes,
        "sources": sources or [],
        "extract": current.extract_on_ingest,
        "extract_deadline_minutes": current.extract_deadline_minutes,
    }


def reset() -> None:
    """Forget the singletons (closing what they opened)."""
    if metadata_store.cache_info().currsize:
        metadata_store().close()
    if blob_zones.cache_info().currsize:
        blob_zones().close()
    if batch_backend.cache_info().currsize:
        batch_backend().close()
    for cached in (settings, metadata_store, blob_zones, batch_backend):
        cached.cache_clear()
