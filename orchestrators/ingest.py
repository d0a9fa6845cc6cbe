"""Orchestrator ``ingest``: landing -> validated -> raw + archive, or the error zone.

Deterministic: only context calls, no I/O, clock or environment. Activities are called through
their contracts (``dataops.activity_contracts.ingest``: ids and paths, JSON on the wire); the
activities (activities/ingest.py) do the work.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from dataops.activity_contracts import ingest as contracts
from dataops.errors import EtagMismatchError, first_line
from dataops.ids import instance_id_for
from orchestrators.calls import ActivityFailedError, call
from orchestrators.ingest_waves import (
    COPY_WAVE,
    FILES_ORCHESTRATION,
    FILES_PER_WAVE,
    copy_files,
    hash_files,
    sub_orchestration_id,
)

__all__ = ["COPY_WAVE", "FILES_PER_WAVE", "MAX_REVALIDATIONS", "ingest_orchestrator"]

MAX_REVALIDATIONS = 3
POLL_SECONDS_DEFAULT = 30


class IngestFailedError(Exception):
    """Raised at the end of a failed run so the instance ends Failed (after the error zone move)."""


def ingest_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Run one upload through validation and copy; see docs/architecture.md, "Flow", step 3."""
    params: dict[str, Any] = context.get_input() or {}
    status: dict[str, Any] = {"stage": "validating", "upload_prefix": params["upload_prefix"]}
    progress: dict[str, Any] = {"step": "validate", "registration": None}
    try:
        return (yield from _ingest_steps(context, params, status, progress))
    except Exception as err:
        step = progress["step"]
        registration = progress["registration"]
        _publish(context, status, stage="failed", failed_step=step)
        yield from call(
            context,
            contracts.FAIL,
            contracts.FailInput(
                upload_prefix=params["upload_prefix"],
                step=step,
                reason=first_line(err, limit=500),
                details=str(err)[:4000],
                instance_id=context.instance_id,
                datastream_id=registration.datastream_id if registration else None,
            ),
        )
        raise IngestFailedError(
            f"ingest failed at step {step}: {first_line(err, limit=500)}"
        ) from err


def _ingest_steps(
    context: df.DurableOrchestrationContext,
    params: dict[str, Any],
    status: dict[str, Any],
    progress: dict[str, Any],
) -> Generator[Any, Any, dict[str, Any]]:
    """The happy path; ``progress`` tells the failure handler how far it got."""
    prefix: str = params["upload_prefix"]
    # One RAW datastream per run, revalidations included; new_uuid is replay-safe, so a
    # retried register activity finds the datastream it already made.
    datastream_id = str(context.new_uuid())
    wave_size = int(params.get("files_per_wave") or FILES_PER_WAVE)
    for attempt in range(MAX_REVALIDATIONS):
        progress["step"] = "validate"
        upload = yield from _wait_for_complete_upload(context, params, status)
        progress["step"] = "checksum"
        _publish(context, status, stage="checksumming", files_total=len(upload.files))
        try:
            yield from _hash_in_waves(context, upload, status, attempt, wave_size)
            progress["step"] = "register"
            registration = yield from call(
                context,
                contracts.REGISTER,
                contracts.RegisterInput(
                    upload_prefix=prefix,
                    manifest_etag=upload.manifest_etag,
                    instance_id=context.instance_id,
                    datastream_id=datastream_id,
                    sources=list(params.get("sources") or []),
                ),
            )
        except ActivityFailedError as err:
            # The pinned version is gone (412): a landing file or the manifest was rewritten
            # after validation (as with a copy whose source changed, below). Validate the new
            # version from scratch rather than fail the upload into the error zone.
            if err.failure.error_class != EtagMismatchError.__name__:
                raise
            _publish(context, status, stage="revalidating")
            continue
        progress["registration"] = registration
        status.update(
            measurement_id=registration.measurement_id,
            datastream_id=registration.datastream_id,
        )
        progress["step"] = "copy"
        copied = yield from _copy_in_waves(
            context, upload, registration, status, attempt=attempt, wave_size=wave_size
        )
        if copied:
            break
        # A landing blob changed after validation: validate the new bytes from scratch.
        _publish(context, status, stage="revalidating")
    else:
        raise IngestFailedError(
            f"landing files kept changing during {MAX_REVALIDATIONS} validation attempts"
        )
    progress["step"] = "complete"
    _publish(context, status, stage="completing")
    ids = {
        "datastream_id": registration.datastream_id,
        "measurement_id": registration.measurement_id,
    }
    completed = yield from call(context, contracts.COMPLETE, contracts.CompleteInput(**ids))
    progress["step"] = "cleanup"
    _publish(context, status, stage="cleaning_landing")
    yield from call(
        context,
        contracts.DELETE_LANDING,
        contracts.DeleteInput(
            upload_prefix=prefix, files=upload.files, manifest_etag=upload.manifest_etag
        ),
    )
    result = completed.model_dump(mode="json", exclude_unset=True)
    output = {
        **ids,
        "raw_prefix": registration.raw_prefix,
        "manifest_etag": upload.manifest_etag,
        **result,
    }
    if params.get("extract", True):
        output["extraction"] = yield from _extract(context, params, ids, status)
    _publish(context, status, stage="completed")
    return output


def _extract(
    context: df.DurableOrchestrationContext,
    params: dict[str, Any],
    ids: dict[str, str],
    status: dict[str, Any],
) -> Generator[Any, Any, dict[str, Any]]:
    """Run ``extract`` for the RAW datastream; its failure never fails the ingest.

    RAW is verified and COMPLETED at this point: nothing may go to the error zone, and a
    failed extraction is rerun on its own (POST /api/measurements/{id}/extract).
    """
    _publish(context, status, stage="extracting")
    try:
        result: dict[str, Any] = yield context.call_sub_orchestrator(
            "extract",
            {
                "measurement_id": ids["measurement_id"],
                "raw_datastream_id": ids["datastream_id"],
                "deadline_minutes": params.get("extract_deadline_minutes"),
            },
            instance_id_for("extract", ids["datastream_id"]),
        )
    except Exception as err:  # noqa: BLE001 - any extraction failure is reported, not raised
        reason = first_line(err, limit=500)
        status["extraction"] = {"status": "Failed", "reason": reason}
        return {"status": "Failed", "reason": reason}
    status["extraction"] = {"status": "Completed", "datastream_id": result["datastream_id"]}
    return result


def _wait_for_complete_upload(
    context: df.DurableOrchestrationContext, params: dict[str, Any], status: dict[str, Any]
) -> Generator[Any, Any, contracts.CheckedUpload]:
    """Check the upload until every listed file is there, waiting with durable timers."""
    prefix = params["upload_prefix"]
    deadline = context.current_utc_datetime + timedelta(
        minutes=int(params.get("late_file_deadline_minutes", 30))
    )
    poll = timedelta(seconds=int(params.get("poll_seconds", POLL_SECONDS_DEFAULT)))
    while True:
        _publish(context, status, stage="validating")
        upload = yield from call(
            context, contracts.CHECK_UPLOAD, contracts.UploadInput(upload_prefix=prefix)
        )
        if not upload.missing:
            status.update(
                # The upload generation this run works on: the reconciler starts a new run
                # when landing holds a manifest with another etag (a re-upload).
                manifest_etag=upload.manifest_etag,
                files_total=len(upload.files),
                bytes_total=sum(f.size for f in upload.files),
                warnings=upload.warnings[:20],
            )
            return upload
        now = context.current_utc_datetime
        if now >= deadline:
            names = ", ".join(upload.missing[:10])
            count = len(upload.missing)
            raise IngestFailedError(f"{count} listed files did not arrive by the deadline: {names}")
        _publish(context, status, stage="waiting_for_files", missing=len(upload.missing))
        yield context.create_timer(min(now + poll, deadline))


def _hash_in_waves(
    context: df.DurableOrchestrationContext,
    upload: contracts.CheckedUpload,
    status: dict[str, Any],
    attempt: int,
    wave_size: int,
) -> Generator[Any, Any, None]:
    """Check every file's SHA-256: inline up to one wave, else one sub-orchestration per wave."""
    if len(upload.files) <= wave_size:
        yield from hash_files(context, upload.upload_prefix, upload.files)
        return
    checked = 0
    for index, start in enumerate(range(0, len(upload.files), wave_size)):
        wave = upload.files[start : start + wave_size]
        yield context.call_sub_orchestrator(
            FILES_ORCHESTRATION,
            contracts.FilesWave(
                action="hash", upload_prefix=upload.upload_prefix, files=wave
            ).model_dump(mode="json"),
            sub_orchestration_id(context.instance_id, "hash", attempt, index),
        )
        checked += len(wave)
        _publish(context, status, stage="checksumming", files_checked=checked)


def _copy_in_waves(
    context: df.DurableOrchestrationContext,
    upload: contracts.CheckedUpload,
    registration: contracts.Registration,
    status: dict[str, Any],
    *,
    attempt: int,
    wave_size: int,
) -> Generator[Any, Any, bool]:
    """Copy every file to raw and archive; False when a landing file changed (revalidate)."""
    progress = {"files_done": 0, "bytes_done": 0}

    def advance(files: int, size: int) -> None:
        progress["files_done"] += files
        progress["bytes_done"] += size
        _publish(context, status, stage="copying", **progress)

    _publish(context, status, stage="copying", **progress)
    if len(upload.files) <= wave_size:
        inline = yield from copy_files(
            context, upload.upload_prefix, upload.files, registration.raw_prefix, advance
        )
        return not inline.source_changed
    for index, start in enumerate(range(0, len(upload.files), wave_size)):
        raw = yield context.call_sub_orchestrator(
            FILES_ORCHESTRATION,
            contracts.FilesWave(
                action="copy",
                upload_prefix=upload.upload_prefix,
                files=upload.files[start : start + wave_size],
                raw_prefix=registration.raw_prefix,
            ).model_dump(mode="json"),
            sub_orchestration_id(context.instance_id, "copy", attempt, index),
        )
        wave = contracts.FilesWaveResult.model_validate(raw)
        if wave.source_changed:
            return False
        advance(wave.files, wave.bytes)
    return True


def _publish(
    context: df.DurableOrchestrationContext, status: dict[str, Any], **changes: Any
) -> None:
    status.update(changes)
    context.set_custom_status(dict(status))
