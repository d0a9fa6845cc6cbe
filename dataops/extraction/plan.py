"""Plan an extraction: which files are recordings, and one batch job per recording.

Recordings are found from the manifest formats alone (the Function App never opens a
recording): every file of a ROS 2 bag directory is listed as ``rosbag2``, so the directory is
one recording; any other recording format is one file. ``dbc`` and ``other`` are sidecars.
"""

from __future__ import annotations

from dataclasses import dataclass
from posixpath import dirname

from dataops.batch.spec import JobLabels, JobSpec, ResourceHints, TaskSpec, derive_job_id
from dataops.extraction.config import VALIDATE, ExtractionConfig
from dataops.models import FileRecord
from dataops.models.manifest import RECORDING_FORMATS, FileFormat
from dataops.paths import join_path, slug

__all__ = ["CAN", "PlannedJob", "Recording", "find_dbc_files", "find_recordings", "plan_jobs"]

CAN = "can"


@dataclass(frozen=True)
class Recording:
    """One recording of a measurement: a path relative to the RAW datastream and its format."""

    path: str
    format: str

    @property
    def slug(self) -> str:
        """Path segment of the recording in the extracted datastream."""
        return slug(self.path)


@dataclass(frozen=True)
class PlannedJob:
    """A job and where its recording's outputs land (relative to the extracted zone)."""

    recording: Recording
    output_prefix: str
    spec: JobSpec


def find_recordings(files: list[FileRecord]) -> list[Recording]:
    """Recordings among a measurement's files, in a stable order (sorted by path)."""
    found: dict[str, Recording] = {}
    for item in files:
        fmt = str(item.format)
        if fmt not in RECORDING_FORMATS:
            continue
        # Every file of a ROS 2 bag directory carries rosbag2: the directory is the recording
        # (a rosbag2 file at the top level has no directory and stands alone).
        is_bag_dir_file = fmt == FileFormat.ROSBAG2.value
        path = (dirname(item.path) or item.path) if is_bag_dir_file else item.path
        found.setdefault(path, Recording(path, fmt))
    return [found[path] for path in sorted(found)]


def find_dbc_files(files: list[FileRecord]) -> list[str]:
    """The measurement's DBC sidecars (format ``dbc``), sorted by path.

    Every one goes to every ``can`` task: a fleet logs several buses, each described by its
    own DBC, and which file decodes which frame is the frame id's business.
    """
    return sorted(item.path for item in files if str(item.format) == FileFormat.DBC.value)


def _dbc_arguments(kind: str, dbc_files: list[str], raw_prefix: str) -> list[str]:
    if kind != CAN:
        return []
    arguments: list[str] = []
    for path in dbc_files:
        arguments += ["--dbc", "{zone:raw}/" + join_path(raw_prefix, path)]
    return arguments


def plan_jobs(
    recordings: list[Recording],
    config: ExtractionConfig,
    *,
    raw_prefix: str,
    extracted_prefix: str,
    measurement_id: str,
    datastream_id: str,
    instance_id: str,
    dbc_files: list[str] | None = None,
) -> list[PlannedJob]:
    """One job per recording: ``validate`` first, every other kind depending on it.

    ``dbc_files`` (paths in the RAW datastream) go to each ``can`` task as ``--dbc``.
    """
    jobs: list[PlannedJob] = []
    for recording in recordings:
        kinds = config.kinds_for(recording.format)
        if not kinds:
            continue
        job_id = derive_job_id("extract", datastream_id, recording.path)
        output = join_path(extracted_prefix, recording.slug)
        tasks = [
            TaskSpec(
                task_id=kind,
                command=[
                    "python",
                    "-m",
                    "extract_worker",
                    "run",
                    "--task",
                    kind,
                    "--input",
                    "{zone:raw}/" + join_path(raw_prefix, recording.path),
                    "--output",
                    "{zone:extracted}/" + output,
                    "--measurement-id",
                    measurement_id,
                    "--datastream-id",
                    datastream_id,
                    "--job-id",
                    job_id,
                    "--task-id",
                    kind,
                    "--instance-id",
                    instance_id,
                    *_dbc_arguments(kind, dbc_files or [], raw_prefix),
                ],
                depends_on=[] if kind == VALIDATE else [VALIDATE],
                max_retries=config.max_retries,
                resources=ResourceHints(max_wall_clock_s=config.task_deadline_s),
            )
            for kind in kinds
        ]
        spec = JobSpec(
            job_id=job_id,
            tasks=tasks,
            labels=JobLabels(
                measurement_id=measurement_id, datastream_id=datastream_id, instance_id=instance_id
            ),
        )
        jobs.append(PlannedJob(recording, output, spec))
    return jobs
