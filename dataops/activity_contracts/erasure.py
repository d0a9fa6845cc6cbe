"""Contracts of the ``erase`` orchestration's activities.

Every input is the erasure id alone and every output counts: the run's history (inputs and
outputs live there until purged) never names the vehicle or measurement it erases. The target
is read from the pending request in the curated zone (``dataops.erasure.records``).
"""

from __future__ import annotations

from dataops.activity_contracts.base import (
    ActivityContract,
    ActivityInput,
    ActivityOutput,
    RetryPolicy,
)

__all__ = [
    "ERASE_BLOBS",
    "ERASE_FAIL",
    "ERASE_FINISH",
    "ERASE_POOL",
    "ERASE_RETRY",
    "ERASE_STORE",
    "ErasureFailInput",
    "ErasureInput",
    "ErasureCounts",
]


class ErasureInput(ActivityInput):
    erasure_id: str


class ErasureFailInput(ActivityInput):
    erasure_id: str
    reason: str


class ErasureCounts(ActivityOutput):
    """Deleted items per zone, table, document kind or state file (``blobs.raw``: 12)."""


# A scrub waits for readers of an old snapshot to go: more, slower attempts than plain I/O.
ERASE_RETRY = RetryPolicy(max_attempts=6, first_delay_s=5.0, backoff=2.0, max_delay_s=120.0)

ERASE_BLOBS = ActivityContract("erase_blobs", ErasureInput, ErasureCounts, ERASE_RETRY)
ERASE_POOL = ActivityContract("erase_pool_jobs", ErasureInput, ErasureCounts, ERASE_RETRY)
ERASE_STORE = ActivityContract("erase_store", ErasureInput, ErasureCounts, ERASE_RETRY)
ERASE_FINISH = ActivityContract("erase_finish", ErasureInput, ErasureCounts)
ERASE_FAIL = ActivityContract("erase_fail", ErasureFailInput, ActivityOutput)
