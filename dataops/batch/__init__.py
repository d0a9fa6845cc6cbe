"""Batch jobs: one protocol, two backends (local process pool, Azure Batch).

``dataops.batch.azure_batch`` is imported on demand (by :func:`open_batch_backend`), so the
embedded setup never loads azure-batch.
"""

from __future__ import annotations

from dataops.batch.exit_codes import EXIT_OK, EXIT_RETRYABLE, EXIT_TERMINAL, Outcome, classify
from dataops.batch.factory import open_batch_backend
from dataops.batch.local_pool import LocalPool
from dataops.batch.protocol import BatchBackend
from dataops.batch.spec import (
    JobLabels,
    JobSpec,
    JobState,
    JobStatus,
    ResourceHints,
    TaskSpec,
    TaskState,
    TaskStatus,
    derive_job_id,
)

__all__ = [
    "BatchBackend",
    "open_batch_backend",
    "LocalPool",
    "JobSpec",
    "TaskSpec",
    "ResourceHints",
    "JobLabels",
    "JobStatus",
    "JobState",
    "TaskStatus",
    "TaskState",
    "derive_job_id",
    "EXIT_OK",
    "EXIT_TERMINAL",
    "EXIT_RETRYABLE",
    "Outcome",
    "classify",
]
