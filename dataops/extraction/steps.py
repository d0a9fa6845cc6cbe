"""The work of the ``extract`` orchestration's activities: prepare, poll, fail, record.

Each step is idempotent, because an activity may run again after a crash or a retry:
the EXTRACTED datastream id comes from the orchestrator, job ids are derived from it, a
resubmit of the same job is a no-op, file records are upserted by path, and state changes
are only made from the state they leave.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from posixpath import splitext
from typing import Any

from dataops import __version__
from dataops.batch.protocol import BatchBackend
from dataops.batch.spec import JobStatus, TaskState
from dataops.derived import open_datastream
from dataops.errors import InvalidInputError, NotFoundError
from dataops.extraction.config import DEFAULT_CONFIG_PATH, VALIDATE, load_extraction_config
from dataops.extraction.plan import (
    COMBINED_TASK_ID,
    find_dbc_files,
    find_recordings,
    plan_jobs,
)
from dataops.models import (
    DatastreamState,
    DatastreamType,
    FileRecord,
    Producer,
)
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones
from dataops.store import MetadataStore, all_measurement_files
from dataops.store.transitions import advance_datastream

__all__ = [
    "MANIFEST_NAME",
    "JobRef",
    "fail_extraction",
    "poll_jobs",
    "prepare_extraction",
    "record_extraction",
]

MANIFEST_NAME = "_manifest.json"
SUCCESS_NAME = "_SUCCESS"
# A task manifest lists every output file; camera tasks of long drives list many frames.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
# How many failed tasks the datastream's reason names (the rest are counted).
MAX_REASONS = 5


@dataclass(frozen=True)
class JobRef:
    """What the orchestrator keeps about one submitted job (plain JSON across the boundary).

    ``kinds`` are the task kinds the job runs, each committing ``<output_prefix>/<kind>/``,
    whether as a task each or all in one task (:data:`COMBINED_TASK_ID`).
    """

    job_id: str
    recording: str
    format: str
    output_prefix: str
    kinds: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the Durable boundary (a copy: later edits of the ref do not reach it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRef:
        """Inverse of :meth:`to_dict`."""
        return cls(
            job_id=str(data["job_id"]),
            recording=str(data["recording"]),
            format=str(data["format"]),
            output_prefix=str(data["output_prefix"]),
            kinds=[str(kind) for kind in data.get("kinds", [])],
        )


def prepare_extraction(
    store: MetadataStore,
    backend: BatchBackend,
    *,
    measurement_id: str,
    raw_datastream_id: str,
    datastream_id: str,
    instance_id: str,
    config_path: Path = DEFAULT_CONFIG_PATH,
) -> dict[str, Any]:
    """EXTRACTED datastream (PROCESSING, source: the RAW one), then one job per recording."""
    measurement = store.get_measurement(measurement_id)
    raw = store.get_datastream(raw_datastream_id)
    if raw.measurement_id != measurement_id or raw.type is not DatastreamType.RAW:
        raise NotFoundError(f"RAW datastream {raw_datastream_id} is not part of {measurement_id}")
    if raw.state is not DatastreamState.COMPLETED:
        raise InvalidInputError(
            f"RAW datastream {raw_datastream_id} is {raw.state}, not COMPLETED: nothing to extract"
        )
    datastream = open_datastream(
        store,
        measurement,
        datastream_id=datastream_id,
        datastream_type=DatastreamType.EXTRACTED,
        zone=Zone.EXTRACTED,
        producer=Producer(step="extract", code_version=__version__, instance_id=instance_id),
        sources=[raw.id],
    )
    prefix = datastream.path
    config = load_extraction_config(
        config_path, project=measurement.project, vehicle_id=measurement.vehicle_id
    )
    files = list(all_measurement_files(store, measurement.id))
    planned = plan_jobs(
        find_recordings(files),
        config,
        raw_prefix=raw.path,
        extracted_prefix=prefix,
        measurement_id=measurement.id,
        datastream_id=datastream_id,
        instance_id=instance_id,
        dbc_files=find_dbc_files(files),
    )
    jobs: list[dict[str, Any]] = []
    for job in planned:
        backend.submit(job.spec)
        jobs.append(
            JobRef(
                job_id=job.spec.job_id,
                recording=job.recording.path,
                format=job.recording.format,
                output_prefix=job.output_prefix,
                kinds=list(job.kinds),
            ).to_dict()
        )
    return {"datastream_id": datastream_id, "path": prefix, "jobs": jobs}


def poll_jobs(backend: BatchBackend, job_ids: list[str]) -> dict[str, Any]:
    """A compact summary of every job: settled or not, tasks done/total, failed jobs."""
    done = total = 0
    settled = True
    failed: list[str] = []
    for job_id in job_ids:
        status = backend.status(job_id)
        total += len(status.tasks)
        done += sum(1 for task in status.tasks.values() if task.state.final)
        settled = settled and status.done
        if status.failed:
            failed.append(job_id)
    return {"settled": settled, "tasks_done": done, "tasks_total": total, "failed": failed}


def _committed(zones: BlobZones, ref: JobRef, kind: str) -> bool:
    try:
        zones.get_info(Zone.EXTRACTED, join_path(ref.output_prefix, kind, SUCCESS_NAME))
    except NotFoundError:
        return False
    return True


def _failed_kinds(zones: BlobZones, ref: JobRef) -> list[str]:
    """The kinds a failed combined task left uncommitted.

    The worker runs ``validate`` first and stops when it fails, so an uncommitted ``validate``
    is the failure (the other kinds never ran); otherwise each kind without its ``_SUCCESS``
    failed. The task's exit code is the worst of theirs; its log names each kind's own code.
    """
    missing = [kind for kind in ref.kinds if not _committed(zones, ref, kind)]
    return [VALIDATE] if VALIDATE in missing else missing


def _failure_lines(zones: BlobZones, ref: JobRef, status: JobStatus) -> list[str]:
    lines: list[str] = []
    for task_id, task in status.tasks.items():
        if task.state is not TaskState.FAILED:
            continue
        kinds = _failed_kinds(zones, ref) if task_id == COMBINED_TASK_ID else [task_id]
        lines.extend(
            f"recording {ref.recording} task {kind} exit {task.exit_code} log {task.log_location}"
            for kind in kinds or [task_id]
        )
    if not lines and status.failed:
        lines.append(f"recording {ref.recording} job {status.state}")
    return lines


def fail_extraction(
    store: MetadataStore,
    backend: BatchBackend,
    zones: BlobZones,
    *,
    datastream_id: str,
    jobs: list[JobRef],
    reason: str | None = None,
) -> dict[str, Any]:
    """Cancel unfinished jobs, EXTRACTED datastream FAILED naming the failed tasks' kinds.

    A failed task of one kind names that kind; a failed combined task names the kinds it left
    uncommitted (read from their ``_SUCCESS`` markers in ``zones``).
    """
    lines: list[str] = []
    for ref in jobs:
        try:
            status = backend.status(ref.job_id)
        except NotFoundError:
            # A failure before every job was submitted: nothing to cancel for this one.
            continue
        if not status.done:
            backend.cancel(ref.job_id)
        lines.extend(_failure_lines(zones, ref, status))
    parts = [reason] if reason else []
    parts.extend(lines[:MAX_REASONS])
    if len(lines) > MAX_REASONS:
        parts.append(f"and {len(lines) - MAX_REASONS} more failed tasks")
    text = "; ".join(parts) or "extraction failed"
    answer = {"datastream_id": datastream_id, "reason": text, "failed_tasks": lines}
    try:
        advance_datastream(
            store,
            datastream_id,
            DatastreamState.FAILED,
            when={DatastreamState.CREATED, DatastreamState.PROCESSING},
            reason=text,
        )
    except NotFoundError:
        # Failed before the datastream was made (e.g. the RAW one is not COMPLETED).
        return answer
    return answer


def _file_format(path: str) -> str:
    extension = splitext(path)[1].lstrip(".").lower()
    return extension or "other"


def record_extraction(
    zones: BlobZones, store: MetadataStore, *, datastream_id: str, jobs: list[JobRef]
) -> dict[str, Any]:
    """File records and stats from every task's ``_manifest.json``; datastream COMPLETED."""
    records: list[FileRecord] = []
    kinds: dict[str, dict[str, int]] = {}
    recordings: dict[str, dict[str, Any]] = {}
    for ref in jobs:
        summary: dict[str, Any] = {"format": ref.format, "tasks": list(ref.kinds)}
        for kind in ref.kinds:
            task_dir = join_path(ref.output_prefix, kind)
            manifest, _ = zones.read_json(
                Zone.EXTRACTED, join_path(task_dir, MANIFEST_NAME), max_bytes=MAX_MANIFEST_BYTES
            )
            totals = kinds.setdefault(kind, {"files": 0, "bytes": 0, "rows": 0})
            for item in manifest.get("files", []):
                path = join_path(task_dir, str(item["path"]))
                size = int(item.get("bytes") or 0)
                rows = int(item.get("rows") or 0)
                records.append(
                    FileRecord(
                        path=path,
                        format=_file_format(path),
                        size=size,
                        meta={
                            "kind": kind,
                            "stream": item.get("stream"),
                            "rows": rows,
                            "recording": ref.recording,
                            "start_ns": item.get("start_ns"),
                            "end_ns": item.get("end_ns"),
                        },
                    )
                )
                totals["files"] += 1
                totals["bytes"] += size
                totals["rows"] += rows
            if manifest.get("errors"):
                summary.setdefault("errors", {})[kind] = len(manifest["errors"])
            metadata = manifest.get("metadata")
            if kind == "metadata" and isinstance(metadata, dict):
                summary.update(
                    start_ns=metadata.get("start_ns"),
                    end_ns=metadata.get("end_ns"),
                    duration_s=metadata.get("duration_s"),
                    topics={
                        name: {"type": info.get("type"), "count": info.get("count")}
                        for name, info in (metadata.get("streams") or {}).items()
                    },
                )
        recordings[ref.recording] = summary
    store.attach_files(datastream_id, records)
    stats = {
        "files": len(records),
        "bytes": sum(record.size for record in records),
        "kinds": kinds,
        "recordings": recordings,
    }
    advance_datastream(
        store,
        datastream_id,
        DatastreamState.COMPLETED,
        when={DatastreamState.PROCESSING},
        stats=stats,
    )
    return {
        "datastream_id": datastream_id,
        "files": stats["files"],
        "bytes": stats["bytes"],
        "kinds": kinds,
    }
