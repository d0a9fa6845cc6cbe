"""Typed orchestrator <-> activity contracts: one definition per activity.

An :class:`ActivityContract` names an activity, its input and output models and its retry
policy. Orchestrators call activities only through their contracts
(``orchestrators.calls``); the function app registers each served activity under its
contract's name (``function_app.activities``); ``activities.serving`` validates the input,
runs the handler and marks a failure terminal or retryable (:mod:`.failure`).
"""

from __future__ import annotations

from dataops.activity_contracts import clips, erasure, extraction, ingest, labeling, steps
from dataops.activity_contracts.base import (
    IO_RETRY,
    ActivityContract,
    ActivityInput,
    ActivityOutput,
    RetryPolicy,
)
from dataops.activity_contracts.failure import FailureInfo, format_failure, parse_failure

__all__ = [
    "ALL_CONTRACTS",
    "io_bound_activities",
    "IO_RETRY",
    "ActivityContract",
    "ActivityInput",
    "ActivityOutput",
    "FailureInfo",
    "RetryPolicy",
    "format_failure",
    "parse_failure",
]

ALL_CONTRACTS: tuple[ActivityContract, ...] = (  # type: ignore[type-arg]
    ingest.CHECK_UPLOAD,
    ingest.HASH_FILE,
    ingest.REGISTER,
    ingest.COPY_FILE,
    ingest.COMPLETE,
    ingest.DELETE_LANDING,
    ingest.FAIL,
    extraction.PREPARE,
    extraction.POLL,
    extraction.RECORD,
    extraction.FAIL,
    *(contract for step in steps.STEPS for contract in (step.prepare, step.run, step.fail)),
    labeling.EXPORT_PLAN,
    labeling.EXPORT_COPY,
    labeling.EXPORT_FINISH,
    labeling.EXPORT_FAIL,
    labeling.IMPORT_RUN,
    labeling.IMPORT_FAIL,
    clips.CLIP_WRITE,
    clips.CLIP_FAIL,
    erasure.ERASE_BLOBS,
    erasure.ERASE_POOL,
    erasure.ERASE_STORE,
    erasure.ERASE_FINISH,
    erasure.ERASE_FAIL,
)


def io_bound_activities() -> frozenset[str]:
    """Names of the activities that wait on I/O rather than compute (not ``cpu_bound``).

    ``avops dev`` and ``avops demo`` run these in threads and the rest in processes: a process
    per I/O-bound activity would only add an app import (about 2 CPU seconds each) to the
    critical path, e.g. 8 of them at once while a large upload is hashed on 2 cores.
    """
    return frozenset(contract.name for contract in ALL_CONTRACTS if not contract.cpu_bound)
