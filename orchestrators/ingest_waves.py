"""Sub-orchestration ``ingest_files``: hash or copy one wave of a large upload's files.

A Durable instance replays its whole history at every step, so one orchestration that hashes
and copies 5,000 files carries tens of thousands of events and replays them thousands of times.
The ingest orchestrator therefore hands uploads larger than one wave (``FILES_PER_WAVE``) to
``ingest_files`` sub-orchestrations of at most that many files, one after the other: each
history is bounded by the wave size, the parent's by the number of waves. Uploads of one wave
or less run inline exactly as before, so their histories are unchanged.

Deterministic: only context calls; activities through their contracts (``orchestrators.calls``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts import ingest as contracts
from orchestrators.calls import call_all

__all__ = [
    "COPY_WAVE",
    "FILES_ORCHESTRATION",
    "FILES_PER_WAVE",
    "copy_files",
    "hash_files",
    "ingest_files_orchestrator",
    "sub_orchestration_id",
]

FILES_ORCHESTRATION = "ingest_files"
FILES_PER_WAVE = 500
COPY_WAVE = 16
"""Copies in flight at once (each reads landing and writes raw and archive)."""


def hash_files(
    context: df.DurableOrchestrationContext, prefix: str, files: list[contracts.UploadedFile]
) -> Generator[Any, Any, None]:
    """Every file's streamed SHA-256 checked against the manifest, as one fan-out."""
    yield from call_all(
        context,
        contracts.HASH_FILE,
        [contracts.FileInput(upload_prefix=prefix, **item.model_dump()) for item in files],
    )


def copy_files(
    context: df.DurableOrchestrationContext,
    prefix: str,
    files: list[contracts.UploadedFile],
    raw_prefix: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> Generator[Any, Any, contracts.FilesWaveResult]:
    """Copy ``files`` to raw and archive, ``COPY_WAVE`` at a time; stop when a source changed."""
    done = 0
    bytes_done = 0
    for start in range(0, len(files), COPY_WAVE):
        wave = files[start : start + COPY_WAVE]
        results = yield from call_all(
            context,
            contracts.COPY_FILE,
            [
                contracts.CopyInput(
                    upload_prefix=prefix, **item.model_dump(), raw_prefix=raw_prefix
                )
                for item in wave
            ],
        )
        if any(result.source_changed for result in results):
            return contracts.FilesWaveResult(files=done, bytes=bytes_done, source_changed=True)
        done += len(wave)
        bytes_done += sum(item.size for item in wave)
        if on_progress is not None:
            on_progress(len(wave), sum(item.size for item in wave))
    return contracts.FilesWaveResult(files=done, bytes=bytes_done)


def ingest_files_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Hash or copy the wave of files in the input (a :class:`contracts.FilesWave`)."""
    wave = contracts.FilesWave.model_validate(context.get_input())
    context.set_custom_status({"action": wave.action, "files": len(wave.files)})
    if wave.action == "hash":
        yield from hash_files(context, wave.upload_prefix, wave.files)
        result = contracts.FilesWaveResult(files=len(wave.files), bytes=0)
    else:
        if wave.raw_prefix is None:
            raise ValueError(f"copy wave of {wave.upload_prefix} has no raw_prefix")
        result = yield from copy_files(context, wave.upload_prefix, wave.files, wave.raw_prefix)
    return result.model_dump(mode="json")


def sub_orchestration_id(parent_id: str, action: str, attempt: int, index: int) -> str:
    """Deterministic, unique per parent, action, validation attempt and wave."""
    return f"{parent_id}:{action}:{attempt}:{index}"
