"""A measurement ready for extraction and a batch backend that plays given task states: what
the extraction planning tests (unit) and its failure reports (integration) share."""

from __future__ import annotations

from datetime import UTC, datetime

from dataops.batch import JobSpec, JobStatus, TaskState, TaskStatus
from dataops.batch.spec import derive_job_state
from dataops.errors import NotFoundError
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    FileRecord,
    Measurement,
    Producer,
)
from dataops.paths import Zone
from dataops.store.sqlite import SqliteStore

ROS_KINDS = ["validate", "metadata", "camera", "lidar", "radar", "gps", "imu", "can", "structured"]
MB = 1_000_000


class FakeBackend:
    """A BatchBackend that records submits and cancels and reports given task states."""

    def __init__(self) -> None:
        self.specs: dict[str, JobSpec] = {}
        self.states: dict[str, dict[str, TaskStatus]] = {}
        self.canceled: list[str] = []

    def submit(self, spec: JobSpec) -> str:
        self.specs.setdefault(spec.job_id, spec)
        self.states.setdefault(
            spec.job_id, {t.task_id: TaskStatus(state=TaskState.PENDING) for t in spec.tasks}
        )
        return spec.job_id

    def status(self, job_id: str) -> JobStatus:
        if job_id not in self.states:
            raise NotFoundError(job_id)
        tasks = self.states[job_id]
        state = derive_job_state(tasks, canceled=job_id in self.canceled)
        return JobStatus(job_id=job_id, state=state, tasks=tasks)

    def cancel(self, job_id: str) -> None:
        self.canceled.append(job_id)

    def close(self) -> None:
        self.specs.clear()


def ingested_measurement(store: SqliteStore, raw_state: DatastreamState) -> tuple[str, str]:
    files = [
        # A large ROS 2 bag (a task per kind) and a small MDF file (one task for its kinds).
        FileRecord(path="ros2/metadata.yaml", format="rosbag2", size=1, sha256="a" * 64),
        FileRecord(path="ros2/ros2_0.mcap", format="rosbag2", size=600 * MB, sha256="b" * 64),
        FileRecord(path="vehicle.mf4", format="mdf4", size=MB, sha256="c" * 64),
        FileRecord(path="vehicle.dbc", format="dbc", size=1, sha256="d" * 64),
    ]
    start = datetime(2026, 5, 4, 8, tzinfo=UTC)
    measurement = store.create_measurement(
        Measurement(
            id="m-1",
            vehicle_id="VIN1",
            recording_start=start,
            recording_end=start,
            upload_prefix="up/1",
            file_count=len(files),
            total_bytes=sum(f.size for f in files),
            project="lab",
            content_sha256="e" * 64,
        ),
        files,
    )
    raw = store.create_datastream(
        Datastream(
            id="raw-1",
            measurement_id=measurement.id,
            type=DatastreamType.RAW,
            zone=Zone.RAW,
            path="2026/05/04/VIN1/m-1/raw-1",
            producer=Producer(step="ingest", code_version="0"),
        )
    )
    assert raw.etag is not None
    store.transition_datastream(raw.id, DatastreamState.COPYING, expected_etag=raw.etag)
    if raw_state is DatastreamState.COMPLETED:
        copying = store.get_datastream(raw.id)
        assert copying.etag is not None
        store.transition_datastream(raw.id, raw_state, expected_etag=copying.etag)
    return measurement.id, raw.id
