"""Plan an extraction: which files are recordings, and one batch job per recording.

Recordings are found from the manifest formats alone (the Function App never opens a
recording): every file of a ROS 2 bag directory is listed as ``rosbag2``, so the directory is
one recording; any other recording format is one file. ``dbc`` and ``other`` are sidecars.

A recording of at most ``combine_kinds_max_mb`` gets one task that runs all its kinds
(:data:`COMBINED_TASK_ID`): one process and one download instead of one per kind. A larger one
gets a task per kind, ``validate`` first and the others depending on it, so its kinds run in
parallel on several slots or nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from posixpath import dirname

from dataops.batch.spec import JobLabels, JobSpec, ResourceHints, TaskSpec, derive_job_id
from dataops.extraction.config import VALIDATE, ExtractionConfig
from dataops.models import FileRecord
from dataops.models.manifest import RECORDING_FORMATS, FileFormat
from dataops.paths import join_path, slug

__all__ = [
    "CAN",
    "COMBINED_TASK_ID",
    "PlannedJob",
    "Recording",
    "find_dbc_files",
    "find_recordings",
    "plan_jobs",
]

CAN = "can"
# The task id of a task that runs all kinds of its recording; never a kind's name, so a job's
# task ids say which shape it has.
COMBINED_TASK_ID = "kinds"
BYTES_PER_MB = 1_000_000


@dataclass(frozen=True)
class Recording:
    """One recording of a measurement: a path relative to the RAW datastream, its format and
    its size (the sum of its files' sizes: a ROS 2 bag directory is several files)."""

    path: str
    format: str
    size: int

    @property
    def slug(self) -> str:
        """Path segment of the recording in the extracted datastream."""
        return slug(self.path)


@dataclass(frozen=True)
class PlannedJob:
    """A job, the kinds it runs and where its recording's outputs land (relative to the
    extracted zone): ``<output_prefix>/<kind>/`` per kind, whatever the job's task ids."""

    recording: Recording
    output_prefix: str
    spec: JobSpec
    kinds: list[str]


def find_recordings(files: list[FileRecord]) -> list[Recording]:
    """Recordings among a measurement's files, in a stable order (sorted by path)."""
    formats: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for item in files:
        fmt = str(item.format)
        if fmt not in RECORDING_FORMATS:
            continue
        # Every file of a ROS 2 bag directory carries rosbag2: the directory is the recording
        # (a rosbag2 file at the top level has no directory and stands alone).
        is_bag_dir_file = fmt == FileFormat.ROSBAG2.value
        path = (dirname(item.path) or item.path) if is_bag_dir_file else item.path
        formats.setdefault(path, fmt)
        sizes[path] = sizes.get(path, 0) + item.size
    return [Recording(path, formats[path], sizes[path]) for path in sorted(formats)]


def find_dbc_files(files: list[FileRecord]) -> list[str]:
    """The measurement's DBC sidecars (format ``dbc``), sorted by path.

    Every one goes to every ``can`` task: a fleet logs several buses, each described by its
    own DBC, and which file decodes which frame is the frame id's business.
    """
    return sorted(item.path for item in files if str(item.format) == FileFormat.DBC.value)


def _dbc_arguments(dbc_files: list[str], raw_prefix: str) -> list[str]:
    arguments: list[str] = []
    for path in dbc_files:
        arguments += ["--dbc", "{zone:raw}/" + join_path(raw_prefix, path)]
    return arguments


@dataclass(frozen=True)
class _Target:
    """What every task of one recording's job is told besides its kinds and task id."""

    input: str
    output: str
    measurement_id: str
    datastream_id: str
    job_id: str
    instance_id: str
    dbc: list[str]

    def command(self, kinds: list[str], task_id: str) -> list[str]:
        """The worker's argv: ``--task`` once per kind, ``--dbc`` if ``can`` is one of them."""
        return [
            "python",
            "-m",
            "extract_worker",
            "run",
            *[argument for kind in kinds for argument in ("--task", kind)],
            "--input",
            self.input,
            "--output",
            self.output,
            "--measurement-id",
            self.measurement_id,
            "--datastream-id",
            self.datastream_id,
            "--job-id",
            self.job_id,
            "--task-id",
            task_id,
            "--instance-id",
            self.instance_id,
            *(self.dbc if CAN in kinds else []),
        ]


def _tasks(
    kinds: list[str], target: _Target, config: ExtractionConfig, *, combined: bool
) -> list[TaskSpec]:
    if combined:
        # One process for every kind, one after another: its deadline covers them all.
        return [
            TaskSpec(
                task_id=COMBINED_TASK_ID,
                command=target.command(kinds, COMBINED_TASK_ID),
                max_retries=config.max_retries,
                resources=ResourceHints(max_wall_clock_s=config.task_deadline_s * len(kinds)),
            )
        ]
    return [
        TaskSpec(
            task_id=kind,
            command=target.command([kind], kind),
            depends_on=[] if kind == VALIDATE else [VALIDATE],
            max_retries=config.max_retries,
            resources=ResourceHints(max_wall_clock_s=config.task_deadline_s),
        )
        for kind in kinds
    ]


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
    """One job per recording: one task running every kind when the recording is at most
    ``config.combine_kinds_max_mb``, else ``validate`` first and every other kind depending on it.

    ``dbc_files`` (paths in the RAW datastream) go to each task that runs ``can`` as ``--dbc``.
    """
    jobs: list[PlannedJob] = []
    for recording in recordings:
        kinds = config.kinds_for(recording.format)
        if not kinds:
            continue
        job_id = derive_job_id("extract", datastream_id, recording.path)
        output = join_path(extracted_prefix, recording.slug)
        target = _Target(
            input="{zone:raw}/" + join_path(raw_prefix, recording.path),
            output="{zone:extracted}/" + output,
            measurement_id=measurement_id,
            datastream_id=datastream_id,
            job_id=job_id,
            instance_id=instance_id,
            dbc=_dbc_arguments(dbc_files or [], raw_prefix),
        )
        limit = config.combine_kinds_max_mb * BYTES_PER_MB
        combined = config.combine_kinds_max_mb > 0 and recording.size <= limit
        spec = JobSpec(
            job_id=job_id,
            tasks=_tasks(kinds, target, config, combined=combined),
            labels=JobLabels(
                measurement_id=measurement_id, datastream_id=datastream_id, instance_id=instance_id
            ),
        )
        jobs.append(PlannedJob(recording, output, spec, kinds))
    return jobs
