"""The reconciler: what Event Grid and the orchestrations left behind, found every few minutes.

Two jobs:

* **Lost events and re-uploads.** A ``manifest.json`` in landing older than ``reconcile_after``
  whose upload has no ``ingest`` instance at all gets one, with the same id and input the Event
  Grid trigger would use (so a late event afterwards finds it and starts nothing). An upload
  whose instance *finished* gets a new run when its landing manifest is a new generation: its
  etag differs from the ``manifest_etag`` the finished run reported (a re-upload to the same
  prefix; docs/ingest.md). A zero-byte manifest gets no run: the upload goes to the error zone
  with ``_error.json`` (a recorded refusal).
* **Stranded uploads.** Every landing prefix older than ``reconcile_after`` that still has no
  active run afterwards is reported, whatever the reason (``dataops.ingest.stranded``): warning
  log, metric ``avops.runs`` with ``avops.event=stranded``; ``GET /api/landing/stranded`` and
  ``avops stranded`` list the same rows.
* **Runs past their deadline.** An ``ingest`` instance still Pending/Running ``run_deadline``
  after it was created is stuck (its own late-file deadline would have failed it long before):
  it is reported (warning log with instance id, upload prefix and measurement, metric
  ``avops.runs`` with ``avops.event=deadline_exceeded``) and *marked* by terminating it with
  the reason, and by setting its RAW datastream, if it registered one, to FAILED with the same
  reason. Nothing is moved or deleted: ingest deletes from landing only after verified copies,
  so the upload is still complete in landing (or in the archive), and
  ``POST /api/uploads/{prefix}/rehydrate`` starts a fresh run that links the failed datastream.
  A terminated instance is no longer Running, so the next pass does not report it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dataops.errors import (
    DataOpsError,
    EtagMismatchError,
    InvalidTransitionError,
    NotFoundError,
)
from dataops.ids import instance_id_for
from dataops.ingest.failure import fail_upload
from dataops.ingest.runs import INGEST, RunControl, RunInfo
from dataops.ingest.stranded import (
    LandingUpload,
    StrandedUpload,
    find_stranded,
    landing_folders,
)
from dataops.models import MANIFEST_NAME, DatastreamState
from dataops.paths import Zone, check_relative_path
from dataops.storage import BlobZones
from dataops.storage.models import BlobInfo
from dataops.store import MetadataStore
from dataops.telemetry import record_run_event

__all__ = ["MAX_STARTS_PER_PASS", "ReconcileReport", "firing_time", "reconcile"]

log = logging.getLogger("avops.reconcile")

# Bounds the work of one pass (a backlog after an outage is worked off over several passes).
MAX_STARTS_PER_PASS = 100
_TERMINAL = frozenset({DatastreamState.COMPLETED, DatastreamState.FAILED})


@dataclass
class ReconcileReport:
    """What one pass did."""

    started: list[str] = field(default_factory=list)
    """Upload prefixes whose ingest run the reconciler started."""
    waiting: int = 0
    """Manifests without a run that are younger than the threshold (Event Grid may still come)."""
    overdue: list[str] = field(default_factory=list)
    """Instance ids found past their deadline (and terminated)."""
    refused: list[str] = field(default_factory=list)
    """Upload prefixes moved to the error zone without a run (zero-byte manifest)."""
    stranded: list[StrandedUpload] = field(default_factory=list)
    """Landing prefixes older than the threshold that no active run works on."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the log line; a stranded upload is named by its prefix only."""
        return {**asdict(self), "stranded": [item.upload_prefix for item in self.stranded]}


def firing_time(schedule_status: Mapping[str, Any] | None, fallback: datetime) -> datetime:
    """The host's time of this timer firing (``ScheduleStatus.LastUpdated``), else ``fallback``.

    Ages are measured against the host's clock, not the worker's, so they agree with the
    instance times the same host records: in devhost under a fake clock, a wall-clock "now"
    would make every run of a test started "in January" look months overdue. In Azure both
    clocks are the same; a status a whole interval stale only makes a pass act one interval
    later, never earlier.
    """
    text = (schedule_status or {}).get("LastUpdated")
    if not isinstance(text, str) or not text:
        return fallback
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        log.warning("timer ScheduleStatus.LastUpdated %r is not ISO 8601; using the clock", text)
        return fallback
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _upload_prefix(info: BlobInfo) -> str | None:
    """The upload a landing blob is the manifest of (same rule as the Event Grid trigger)."""
    if not info.path.endswith("/" + MANIFEST_NAME):
        return None
    return info.path.removesuffix("/" + MANIFEST_NAME)


EMPTY_MANIFEST_REASON = "manifest.json is empty (0 bytes)"


def _is_new_generation(run: RunInfo, manifest_etag: str) -> bool:
    """A finished run reported another manifest etag: the landing manifest is a re-upload.

    A run that reported none (it failed before reading the manifest) is not restarted here:
    its upload is reported as stranded and an operator decides (rehydrate).
    """
    reported = run.reported("manifest_etag")
    # Listings and reads quote etags differently ("0x8D..." vs 0x8D...): compare the values.
    return (
        not run.active and reported is not None and reported.strip('"') != manifest_etag.strip('"')
    )


async def _refuse_empty(
    zones: BlobZones, store: MetadataStore, report: ReconcileReport, prefix: str
) -> None:
    """Zero-byte manifest: the upload goes to the error zone with ``_error.json``, no run."""
    await asyncio.to_thread(
        fail_upload,
        zones,
        store,
        upload_prefix=prefix,
        step="validate",
        reason=EMPTY_MANIFEST_REASON,
        details=f"landing/{prefix}/{MANIFEST_NAME} has no bytes; upload the manifest again",
        instance_id=None,
        datastream_id=None,
    )
    report.refused.append(prefix)
    record_run_event("manifest_refused", instance_id=instance_id_for(INGEST, prefix))
    log.warning("upload %s refused: %s; moved to the error zone", prefix, EMPTY_MANIFEST_REASON)


async def _start_orphans(
    control: RunControl,
    zones: BlobZones,
    store: MetadataStore,
    report: ReconcileReport,
    *,
    older_than: datetime,
    start_input: Callable[[str], dict[str, Any]],
    manifests: list[tuple[str, BlobInfo]],
) -> None:
    for prefix, info in manifests:
        try:
            check_relative_path(prefix, field="upload_prefix", source="landing")
        except DataOpsError as err:
            log.warning("landing manifest %s has an unsafe prefix, not started: %s", info.path, err)
            continue
        instance_id = instance_id_for(INGEST, prefix)
        run = await control.status(instance_id)
        if run is not None and (run.active or not _is_new_generation(run, info.etag)):
            continue
        if info.last_modified > older_than:
            report.waiting += 1
            continue
        if info.size <= 0:
            await _refuse_empty(zones, store, report, prefix)
            continue
        if len(report.started) >= MAX_STARTS_PER_PASS:
            log.warning(
                "reconciler start limit %d reached; the rest next pass", len(report.started)
            )
            return
        try:
            await control.start(INGEST, instance_id, start_input(prefix))
        except Exception:
            # The trigger may have started it in between; only a still-missing run is an error.
            now_run = await control.status(instance_id)
            if now_run is None or not now_run.active:
                raise
            continue
        report.started.append(prefix)
        if run is None:
            record_run_event("reconciler_started", instance_id=instance_id)
            log.warning(
                "started ingest %s for upload %s: manifest written %s, no run (lost event?)",
                instance_id,
                prefix,
                info.last_modified.isoformat(),
            )
        else:
            record_run_event("reupload_started", instance_id=instance_id)
            log.warning(
                "started ingest %s for re-upload %s: manifest %s written %s, the %s run had %s",
                instance_id,
                prefix,
                info.etag,
                info.last_modified.isoformat(),
                run.runtime_status,
                run.reported("manifest_etag"),
            )


def _scan_landing(
    zones: BlobZones,
) -> tuple[list[tuple[str, BlobInfo]], dict[str, LandingUpload]]:
    """One streamed listing of landing: its manifests by upload prefix, and every blob
    aggregated by upload."""
    manifests: list[tuple[str, BlobInfo]] = []

    def keeping_manifests() -> Iterator[BlobInfo]:
        for info in zones.list_blobs(Zone.LANDING):
            prefix = _upload_prefix(info)
            if prefix is not None:
                manifests.append((prefix, info))
            yield info

    uploads = landing_folders(keeping_manifests())
    return manifests, uploads


async def _report_stranded(
    control: RunControl,
    zones: BlobZones,
    report: ReconcileReport,
    *,
    older_than: datetime,
    uploads: dict[str, LandingUpload],
) -> None:
    # The pass refused these to the error zone after the listing: no longer in landing.
    for prefix in report.refused:
        uploads.pop(prefix, None)
    report.stranded = await find_stranded(control, zones, older_than=older_than, uploads=uploads)
    for item in report.stranded:
        record_run_event("stranded", instance_id=item.instance_id)
        log.warning(
            "stranded upload %s in landing: %s (%d files, %d bytes, last written %s, run %s %s)",
            item.upload_prefix,
            item.reason,
            item.files,
            item.bytes,
            item.last_modified.isoformat(),
            item.instance_id,
            item.runtime_status,
        )


def _fail_datastream(store: MetadataStore, datastream_id: str, reason: str) -> bool:
    """RAW datastream -> FAILED with ``reason`` unless it already finished; True if changed."""
    for _attempt in range(3):
        try:
            stream = store.get_datastream(datastream_id)
        except NotFoundError:
            return False
        if stream.state in _TERMINAL:
            return False
        assert stream.etag is not None
        try:
            store.transition_datastream(
                datastream_id, DatastreamState.FAILED, expected_etag=stream.etag, reason=reason
            )
        except InvalidTransitionError:
            return False
        except EtagMismatchError:
            continue  # changed under us (an activity still finishing): read again
        return True
    return False


EXTRACTING_STAGE = "extracting"


async def _mark_overdue(
    control: RunControl,
    store: MetadataStore,
    report: ReconcileReport,
    *,
    now: datetime,
    created_before: datetime,
    deadline: timedelta,
) -> None:
    runs: list[RunInfo] = await control.active_created_before(created_before)
    for run in runs:
        if run.name != INGEST:
            continue  # sub-orchestrations have their own deadlines and their parent's id
        if run.created_time is not None and run.created_time > created_before:
            continue  # a backend whose created-time filter is coarser than ours
        if run.reported("stage") == EXTRACTING_STAGE:
            # Raw is verified and the upload is safe; the extract sub-orchestration enforces
            # its own (longer) deadline and ends the wait, so this run is not stuck.
            continue
        since = run.created_time.isoformat() if run.created_time else "unknown"
        minutes = int(deadline.total_seconds() // 60)
        reason = f"deadline exceeded: running since {since}, deadline {minutes} min (reconciler)"
        prefix = run.reported("upload_prefix")
        measurement_id = run.reported("measurement_id")
        datastream_id = run.reported("datastream_id")
        log.warning(
            "ingest %s of upload %s (measurement %s) is past its deadline: created %s, now %s;"
            " terminating it",
            run.instance_id,
            prefix,
            measurement_id,
            since,
            now.isoformat(),
            extra={
                "instance_id": run.instance_id,
                "measurement_id": measurement_id or "",
                "datastream_id": datastream_id or "",
            },
        )
        record_run_event(
            "deadline_exceeded",
            instance_id=run.instance_id,
            measurement_id=measurement_id,
            datastream_id=datastream_id,
        )
        await control.terminate(run.instance_id, reason)
        if datastream_id is not None:
            await asyncio.to_thread(_fail_datastream, store, datastream_id, reason)
        report.overdue.append(run.instance_id)


async def reconcile(
    control: RunControl,
    zones: BlobZones,
    store: MetadataStore,
    *,
    now: datetime,
    reconcile_after: timedelta,
    run_deadline: timedelta,
    start_input: Callable[[str], dict[str, Any]],
) -> ReconcileReport:
    """One pass: start runs for orphaned landing manifests, terminate and report overdue runs,
    then report what is still stranded in landing."""
    report = ReconcileReport()
    older_than = now - reconcile_after
    # Landing is listed once per pass, for the orphans and the stranded report alike.
    manifests, uploads = await asyncio.to_thread(_scan_landing, zones)
    await _start_orphans(
        control,
        zones,
        store,
        report,
        older_than=older_than,
        start_input=start_input,
        manifests=manifests,
    )
    await _mark_overdue(
        control, store, report, now=now, created_before=now - run_deadline, deadline=run_deadline
    )
    await _report_stranded(control, zones, report, older_than=older_than, uploads=uploads)
    if report.started or report.overdue or report.refused or report.stranded:
        log.info("reconciler pass: %s", report.to_dict())
    return report
