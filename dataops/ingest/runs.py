"""Ingest runs seen from outside: their status, starting them again (rerun / rehydrate).

The Durable Functions client lives in ``function_app``; here it is the small
:class:`RunControl` protocol, so this logic needs no azure-functions import and tests can
drive it with any implementation.

Rerun order, and why (see docs/ingest.md, "Rerun, rehydrate and reconciliation"):

1. refuse while the upload's ``ingest`` instance is Pending/Running (409): two runs on one
   prefix would race on the same landing blobs;
2. restore the upload into landing (:func:`restore_upload`, manifest last). The manifest's
   BlobCreated event reaches the Event Grid trigger, which ignores it: the old instance
   (Completed/Failed/Terminated) still exists;
3. only then start ``ingest`` under the same instance id, replacing the finished instance.
   Starting before the restore finished would let the new run validate a half-restored upload;
   once started, a late event finds it Running and starts nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from dataops.errors import ConflictError, DataOpsError, NotFoundError
from dataops.ids import instance_id_for
from dataops.ingest.rehydrate import (
    RegisteredUpload,
    RestoreResult,
    lineage_sources,
    restore_upload,
)
from dataops.models import Measurement
from dataops.paths import check_relative_path
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.telemetry import record_run_event

__all__ = [
    "ACTIVE_STATUSES",
    "INGEST",
    "RerunResult",
    "RunActiveError",
    "RunControl",
    "RunInfo",
    "StartInput",
    "rerun_measurement",
    "rerun_upload",
]

log = logging.getLogger("avops.operations")

INGEST = "ingest"
# Runtime statuses (Durable's names) in which an instance still works on its upload.
ACTIVE_STATUSES = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})

StartInput = Callable[[str, list[str]], dict[str, Any]]
"""(upload prefix, lineage sources) -> the orchestrator input (``ingest_start_input``)."""


@dataclass(frozen=True)
class RunInfo:
    """What the reconciler and the rerun need to know about one orchestration instance."""

    instance_id: str
    name: str | None
    runtime_status: str | None
    created_time: datetime | None = None
    output: Any = None
    custom_status: Any = None
    last_updated_time: datetime | None = None

    @property
    def active(self) -> bool:
        """Still working (Pending, Running, ...): another run must not start on its upload."""
        return self.runtime_status in ACTIVE_STATUSES

    def reported(self, key: str) -> str | None:
        """A string the run reported under ``key`` in its output or custom status."""
        for document in (self.output, self.custom_status):
            if isinstance(document, dict) and isinstance(document.get(key), str):
                return str(document[key])
        return None


class RunControl(Protocol):
    """The few Durable client operations operations need."""

    async def status(self, instance_id: str) -> RunInfo | None:
        """The instance, or None when there is none with this id."""
        ...

    async def start(self, orchestration: str, instance_id: str, start_input: Any) -> None:
        """Start (or replace a finished) instance; raises when an active one holds the id."""
        ...

    async def active_created_before(self, created_before: datetime) -> list[RunInfo]:
        """Pending/Running instances created before ``created_before``."""
        ...

    async def terminate(self, instance_id: str, reason: str) -> None:
        """Terminate a running instance with ``reason``."""
        ...

    async def purge(self, instance_id: str) -> int:
        """Delete a finished instance's history (input, output, events); 0 when there is none."""
        ...

    async def raise_event(self, instance_id: str, event_name: str, data_json: str) -> bool:
        """Raise ``event_name`` with the JSON text ``data_json`` on a running instance; False
        when there is no such instance or it has finished (nothing waits for the event)."""
        ...


class RunActiveError(ConflictError):
    """A run of this upload is still active: nothing was restored or started."""


@dataclass(frozen=True)
class RerunResult:
    """A started rerun: its instance id, what was restored and the lineage sources it links."""

    instance_id: str
    restore: RestoreResult
    sources: list[str] = field(default_factory=list)
    measurement_id: str | None = None


async def _measurement(store: MetadataStore, measurement_id: str | None) -> Measurement | None:
    if measurement_id is None:
        return None
    try:
        return await asyncio.to_thread(store.get_measurement, measurement_id)
    except NotFoundError:
        return None


async def rerun_upload(
    control: RunControl,
    zones: BlobZones,
    store: MetadataStore,
    *,
    upload_prefix: str,
    start_input: StartInput,
    max_manifest_bytes: int,
    measurement: Measurement | None = None,
) -> RerunResult:
    """Restore ``upload_prefix`` into landing and start a fresh ``ingest`` run on it.

    ``measurement``: the upload's Measurement when the caller knows it (rerun by id); without
    it, the one the previous run reported is used. Errors: RunActiveError (409) while a run is
    active; NotFoundError (404) for an upload nobody knows; ConflictError (409) for a known
    upload whose files are gone from archive and error.
    """
    prefix = check_relative_path(upload_prefix, field="prefix")
    instance_id = instance_id_for(INGEST, prefix)
    previous = await control.status(instance_id)
    if previous is not None and previous.active:
        raise RunActiveError(
            f"ingest run {instance_id} of upload {prefix} is {previous.runtime_status}; "
            "rerun it after it finished"
        )
    if measurement is None and previous is not None:
        measurement = await _measurement(store, previous.reported("measurement_id"))
    registered = None
    if measurement is not None:
        registered = await asyncio.to_thread(RegisteredUpload.read, store, measurement)
    try:
        restored = await asyncio.to_thread(
            restore_upload,
            zones,
            prefix,
            max_manifest_bytes=max_manifest_bytes,
            registered=registered,
        )
    except NotFoundError as err:
        if previous is None and measurement is None:
            raise NotFoundError(f"unknown upload {prefix}: no ingest run on record; {err}") from err
        raise ConflictError(
            f"upload {prefix} cannot be restored: its files are in neither the archive nor "
            f"the error zone ({err})"
        ) from err
    sources: list[str] = []
    if measurement is not None:
        sources = await asyncio.to_thread(lineage_sources, store, measurement.id, prefix)
    try:
        await control.start(INGEST, instance_id, start_input(prefix, sources))
    except DataOpsError:
        raise
    except Exception as err:
        # Lost a race (a run started after our check): report that run, not a server error.
        now = await control.status(instance_id)
        if now is not None and now.active:
            raise RunActiveError(
                f"ingest run {instance_id} of upload {prefix} started meanwhile "
                f"({now.runtime_status}); it takes the restored upload"
            ) from err
        raise
    record_run_event(
        "rerun_started",
        instance_id=instance_id,
        measurement_id=measurement.id if measurement is not None else None,
    )
    log.info(
        "rerun %s of upload %s: restored from %s (%d files, %d copied), sources %s",
        instance_id,
        prefix,
        restored.restored_from,
        restored.files,
        restored.copied,
        sources,
    )
    return RerunResult(
        instance_id=instance_id,
        restore=restored,
        sources=sources,
        measurement_id=measurement.id if measurement is not None else None,
    )


async def rerun_measurement(
    control: RunControl,
    zones: BlobZones,
    store: MetadataStore,
    *,
    measurement_id: str,
    start_input: StartInput,
    max_manifest_bytes: int,
) -> RerunResult:
    """:func:`rerun_upload` for the upload a Measurement was registered from (404 if unknown)."""
    measurement = await asyncio.to_thread(store.get_measurement, measurement_id)
    return await rerun_upload(
        control,
        zones,
        store,
        upload_prefix=measurement.upload_prefix,
        start_input=start_input,
        max_manifest_bytes=max_manifest_bytes,
        measurement=measurement,
    )
