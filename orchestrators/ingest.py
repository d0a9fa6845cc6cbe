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
from dataops.errors import first_line
from dataops.ids import instance_id_for
from orchestrators.calls import call, call_all

__all__ = ["COPY_WAVE", "MAX_REVALIDATIONS", "ingest_orchestrator"]

COPY_WAVE = 16
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
    for _attempt in range(MAX_REVALIDATIONS):
        progress["step"] = "validate"
        upload = yield from _wait_for_complete_upload(context, params, status)
        progress["step"] = "checksum"
        _publish(context, status, stage="checksumming", files_total=len(upload.files))
        yield from call_all(
            context,
            contracts.HASH_FILE,
            [
                contracts.FileInput(upload_prefix=prefix, **item.model_dump())
                for item in upload.files
            ],
        )
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
        progress["registration"] = registration
        status.update(
            measurement_id=registration.measurement_id,
            datastream_id=registration.datastream_id,
        )
        progress["step"] = "copy"
        copied = yield from _copy_in_waves(context, upload, registration, status)
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


def _copy_in_waves(
    context: df.DurableOrchestrationContext,
    upload: contracts.CheckedUpload,
    registration: contracts.Registration,
    status: dict[str, Any],
) -> Generator[Any, Any, bool]:
    """Copy every file to raw and archive; False when a landing file changed (revalidate)."""
    files = upload.files
    done = 0
    bytes_done = 0
    _publish(context, status, stage="copying", files_done=0, bytes_done=0)
    for start in range(0, len(files), COPY_WAVE):
        wave = files[start : start + COPY_WAVE]
        results = yield from call_all(
            context,
            contracts.COPY_FILE,
            [
                contracts.CopyInput(
                    upload_prefix=upload.upload_prefix,
                    **item.model_dump(),
                    raw_prefix=registration.raw_prefix,
                )
                for item in wave
            ],
        )
        if any(result.source_changed for result in results):
            return False
        done += len(wave)
        bytes_done += sum(item.size for item in wave)
        _publish(context, status, stage="copying", files_done=done, bytes_done=bytes_done)
    return True


def _publish(
    context: df.DurableOrchestrationContext, status: dict[str, Any], **changes: Any
) -> None:
    status.update(changes)
    context.set_custom_status(dict(status))
