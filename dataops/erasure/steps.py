"""The erasure's steps, in order; each is idempotent and computes its plan from the store again.

1. :func:`begin` (the starter, before the run exists): tombstones, pending target, record.
2. :func:`erase_blob_step`: every folder and every export holding the target.
3. :func:`erase_pool_step`: the target's Azure Batch jobs, or the local pool's jobs, logs and
   work folders.
4. :func:`erase_store_step`: store documents and change log, then the file is scrubbed. Last
   of the deletions, because the plan of steps 2 and 3 is read from these documents.
5. :func:`finish_step`: the record says completed, the pending target is deleted.

A crash anywhere resumes from the run's history; a step that ran in part finds less to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime

from dataops.erasure.batch_jobs import (
    JobEraser,
    erase_service_jobs,
    extraction_job_ids,
    service_jobs_of,
)
from dataops.erasure.blobs import erase_blobs, list_target_blobs
from dataops.erasure.identity import ErasureTarget, TargetKind
from dataops.erasure.plan import ErasurePlan, plan_erasure
from dataops.erasure.pool import erase_pool_jobs, pool_jobs_of
from dataops.erasure.records import (
    ErasureRecord,
    ErasureState,
    delete_pending,
    read_pending,
    read_record,
    write_pending,
    write_record,
    write_tombstones,
)
from dataops.errors import NotFoundError
from dataops.ids import instance_id_for
from dataops.local_caches import forget_everywhere
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = [
    "ERASE",
    "add_counts",
    "begin",
    "erase_instance_id",
    "erase_blob_step",
    "erase_pool_step",
    "erase_store_step",
    "fail_step",
    "finish_step",
    "preview",
]

ERASE = "erase"


def erase_instance_id(erasure_id: str) -> str:
    """The erasure run's instance id: derived from the erasure id, so a request finds its run."""
    return instance_id_for(ERASE, erasure_id)


def preview(
    zones: BlobZones,
    store: MetadataStore,
    settings: Settings,
    target: ErasureTarget,
    eraser: JobEraser | None = None,
) -> dict[str, object]:
    """Everything an erasure of ``target`` would delete (``--dry-run``); deletes nothing.

    ``eraser``: the Azure Batch service, whose jobs are listed instead of the local pool's.
    """
    plan = plan_erasure(store, target)
    if eraser is not None:
        batch_jobs = service_jobs_of(eraser, extraction_job_ids(store, plan))
    else:
        batch_jobs = pool_jobs_of(settings, plan.tokens())
    return {
        "measurements": plan.measurement_ids,
        "datastreams": plan.datastream_ids,
        "blobs": list_target_blobs(zones, plan),
        "runs": plan.instance_ids(),
        "batch_jobs": batch_jobs,
    }


def begin(
    zones: BlobZones,
    store: MetadataStore,
    settings: Settings,
    target: ErasureTarget,
    *,
    requested_by: str,
) -> tuple[ErasureRecord, ErasurePlan]:
    """Tombstone the target, keep its pending request, write (or reopen) the record."""
    erasure_id = target.erasure_id(settings.erasure_salt)
    plan = plan_erasure(store, target)
    existing = read_record(zones, erasure_id)
    if existing is not None and existing.state is ErasureState.COMPLETED and not plan.measurements:
        return existing, plan
    if existing is None and not plan.measurements:
        raise NotFoundError(f"no {target.kind.value} {target.target_id!r} to erase")
    write_tombstones(zones, settings.erasure_salt, target.kind, [target.target_id])
    write_tombstones(zones, settings.erasure_salt, TargetKind.MEASUREMENT, plan.measurement_ids)
    write_pending(zones, erasure_id, target)
    record = ErasureRecord(
        erasure_id=erasure_id,
        kind=target.kind,
        state=ErasureState.RUNNING,
        instance_id=erase_instance_id(erasure_id),
        # A resumed erasure keeps the first request's time: the deadline counts from it.
        requested_at=existing.requested_at if existing is not None else datetime.now(UTC),
        requested_by=requested_by,
        counts=existing.counts if existing is not None else {},
    )
    write_record(zones, record)
    return record, plan


def _target(zones: BlobZones, erasure_id: str) -> ErasureTarget | None:
    pending = read_pending(zones, erasure_id)
    return None if pending is None else pending.target


def add_counts(zones: BlobZones, erasure_id: str, counts: Mapping[str, int]) -> None:
    record = read_record(zones, erasure_id)
    if record is None:
        raise NotFoundError(f"erasure {erasure_id} has no record")
    total = Counter(record.counts)
    total.update(counts)
    write_record(zones, record.model_copy(update={"counts": dict(total)}))


def erase_blob_step(zones: BlobZones, store: MetadataStore, erasure_id: str) -> dict[str, int]:
    """Step 2; the counts it adds to the record (empty when the target is already gone)."""
    target = _target(zones, erasure_id)
    if target is None:
        return {}
    counts: Counter[str] = Counter()
    try:
        erase_blobs(zones, plan_erasure(store, target), counts)
    finally:
        # Also when a WORM lock fails the step: what it deleted stays counted.
        add_counts(zones, erasure_id, counts)
    return dict(counts)


def erase_pool_step(
    zones: BlobZones,
    store: MetadataStore,
    settings: Settings,
    erasure_id: str,
    eraser: JobEraser | None = None,
) -> dict[str, int]:
    """Step 3: the target's batch jobs, in Azure Batch when ``eraser`` is given, else in the
    local pool."""
    target = _target(zones, erasure_id)
    if target is None:
        return {}
    plan = plan_erasure(store, target)
    if eraser is not None:
        counts = {"batch_jobs": erase_service_jobs(eraser, extraction_job_ids(store, plan))}
    else:
        counts = {"batch_jobs": erase_pool_jobs(settings, plan.tokens())}
    add_counts(zones, erasure_id, counts)
    return counts


def erase_store_step(zones: BlobZones, store: MetadataStore, erasure_id: str) -> dict[str, int]:
    """Step 4."""
    target = _target(zones, erasure_id)
    if target is None:
        return {}
    plan = plan_erasure(store, target)
    deleted = store.erase_documents(plan.measurement_ids, plan.datastream_ids)
    counts = {f"store.{kind}": count for kind, count in deleted.items()}
    # A search between the blob step and now could still select the target and cache
    # what it found; from here on no search selects it.
    counts["table_cache"] = forget_everywhere(plan.cache_scope())
    add_counts(zones, erasure_id, counts)
    return counts


def finish_step(zones: BlobZones, erasure_id: str) -> dict[str, int]:
    """Step 5: the record is completed and the target's name leaves the pending folder."""
    record = read_record(zones, erasure_id)
    if record is None:
        raise NotFoundError(f"erasure {erasure_id} has no record")
    if record.state is not ErasureState.COMPLETED:
        record = record.model_copy(
            update={
                "state": ErasureState.COMPLETED,
                "completed_at": datetime.now(UTC),
                "reason": None,
            }
        )
        write_record(zones, record)
    delete_pending(zones, erasure_id)
    return dict(record.counts)


def fail_step(zones: BlobZones, erasure_id: str, reason: str) -> None:
    """The record says failed, with the reason (which names zones and counts, never paths).

    The pending target stays: the erasure is not done, a new request resumes it.
    """
    record = read_record(zones, erasure_id)
    if record is None:
        return
    write_record(zones, record.model_copy(update={"state": ErasureState.FAILED, "reason": reason}))
