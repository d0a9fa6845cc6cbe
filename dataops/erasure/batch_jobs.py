"""The target's jobs in Azure Batch.

An extraction job names the target in its task command lines (the RAW and EXTRACTED paths hold
the vehicle, measurement and datastream ids) and in its metadata, and the service keeps a
completed job until it is deleted. Job ids are derived from what the store holds
(``derive_job_id("extract", <EXTRACTED datastream id>, <recording path>)``, as the extraction
planned them), so the erasure computes them from its plan instead of listing every job of the
account, and deletes each one that exists. The local pool is scrubbed by :mod:`.pool`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from dataops.batch.factory import open_batch_backend
from dataops.batch.spec import derive_job_id
from dataops.erasure.plan import ErasurePlan
from dataops.extraction.plan import find_recordings
from dataops.models import DatastreamType
from dataops.settings import BatchBackend as BatchBackendKind
from dataops.settings import Settings
from dataops.store import MetadataStore
from dataops.store.measurement_files import all_measurement_files

__all__ = [
    "JobEraser",
    "erase_service_jobs",
    "extraction_job_ids",
    "job_eraser",
    "service_jobs_of",
]


class JobEraser(Protocol):
    """What the erasure needs of a batch service (``AzureBatchBackend``)."""

    def job_exists(self, job_id: str) -> bool: ...

    def delete_job(self, job_id: str) -> bool: ...

    def close(self) -> None: ...


@contextmanager
def job_eraser(settings: Settings) -> Iterator[JobEraser | None]:
    """The Azure Batch service of ``settings``, closed afterwards; None for the local pool
    (scrubbed by :mod:`.pool`)."""
    if settings.batch_backend is not BatchBackendKind.AZURE:
        yield None
        return
    from dataops.batch.azure_batch import AzureBatchBackend

    backend = open_batch_backend(settings)
    assert isinstance(backend, AzureBatchBackend)
    try:
        yield backend
    finally:
        backend.close()


def extraction_job_ids(store: MetadataStore, plan: ErasurePlan) -> list[str]:
    """Every extraction job id the target's EXTRACTED datastreams can have had.

    Read before the store step deletes the documents they are derived from (the order of
    ``orchestrators/erase.py``). A recording with no kinds configured never got a job: its id
    is simply not found.
    """
    ids: set[str] = set()
    recordings: dict[str, list[str]] = {}
    for datastream in plan.datastreams.values():
        if datastream.type is not DatastreamType.EXTRACTED:
            continue
        measurement = datastream.measurement_id
        if measurement not in recordings:
            files = list(all_measurement_files(store, measurement))
            recordings[measurement] = [recording.path for recording in find_recordings(files)]
        paths = recordings[measurement]
        ids.update(derive_job_id("extract", datastream.id, path) for path in paths)
    return sorted(ids)


def service_jobs_of(eraser: JobEraser, job_ids: list[str]) -> list[str]:
    """The ids among ``job_ids`` the service still holds (the dry run's list)."""
    return [job_id for job_id in job_ids if eraser.job_exists(job_id)]


def erase_service_jobs(eraser: JobEraser, job_ids: list[str]) -> int:
    """Delete each job the service holds; how many there were. Idempotent: a job deleted by an
    earlier, interrupted attempt is not found and not counted again."""
    return sum(1 for job_id in job_ids if eraser.delete_job(job_id))
