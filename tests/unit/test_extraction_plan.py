"""Extraction planning (config, overrides, recordings, jobs, poll intervals) and the steps
prepare / poll / fail / rerun target on a SQLite store with a fake batch backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataops.batch import JobSpec, JobStatus, TaskState, TaskStatus, derive_job_id
from dataops.batch.spec import derive_job_state
from dataops.errors import ConflictError, InvalidInputError, NotFoundError
from dataops.extraction import (
    JobRef,
    fail_extraction,
    find_dbc_files,
    find_recordings,
    load_extraction_config,
    plan_jobs,
    poll_jobs,
    prepare_extraction,
)
from dataops.extraction.config import DEFAULT_CONFIG_PATH
from dataops.extraction.rerun import extraction_target
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
from orchestrators.extract import next_poll_seconds

ROS_KINDS = ["validate", "metadata", "camera", "lidar", "radar", "gps", "imu", "can", "structured"]


def _file(path: str, fmt: str) -> FileRecord:
    return FileRecord(path=path, format=fmt, size=1)


def test_checked_in_config_maps_each_recording_format_to_its_kinds() -> None:
    config = load_extraction_config()
    assert config.kinds_for("rosbag1") == ROS_KINDS
    assert config.kinds_for("rosbag2") == ROS_KINDS
    assert config.kinds_for("mcap") == ROS_KINDS
    assert config.kinds_for("mdf4") == ["validate", "metadata", "structured", "can"]
    assert config.kinds_for("tdms") == ["validate", "metadata", "structured"]
    assert config.kinds_for("dbc") == []
    assert config.max_retries == 2


def _config_file(tmp_path: Path, overrides: dict[str, object]) -> Path:
    document = json.loads(DEFAULT_CONFIG_PATH.read_text())
    document["overrides"] = overrides
    path = tmp_path / "extraction.json"
    path.write_text(json.dumps(document))
    return path


def test_project_then_vehicle_overrides_are_shallow_merged(tmp_path: Path) -> None:
    path = _config_file(
        tmp_path,
        {
            "project:lab": {"max_retries": 5, "formats": {"tdms": ["validate", "metadata"]}},
            "vehicle:VIN1": {"max_retries": 0},
        },
    )
    lab = load_extraction_config(path, project="lab", vehicle_id="VIN2")
    assert lab.max_retries == 5
    # Shallow: the override's table replaces the whole one (no rosbag entries left).
    assert lab.kinds_for("tdms") == ["validate", "metadata"]
    assert lab.kinds_for("rosbag1") == []
    both = load_extraction_config(path, project="lab", vehicle_id="VIN1")
    assert both.max_retries == 0
    other = load_extraction_config(path, project="fleet", vehicle_id="VIN9")
    assert other.max_retries == 2
    assert other.kinds_for("rosbag1") == ROS_KINDS


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"formats": {"tdms": ["metadata"]}}, "must start with 'validate'"),
        ({"formats": {"tdms": ["validate", "thermal"]}}, "unknown task kinds"),
        ({"formats": {"dbc": ["validate"]}}, "not a recording format"),
        ({"max_retries": 11}, "less than or equal to 10"),
    ],
)
def test_a_bad_config_is_refused_at_load(
    tmp_path: Path, override: dict[str, object], message: str
) -> None:
    path = _config_file(tmp_path, {"project:x": override})
    with pytest.raises(InvalidInputError, match=message):
        load_extraction_config(path, project="x")


def test_a_ros2_bag_directory_is_one_recording_and_sidecars_are_none() -> None:
    files = [
        _file("ros2_drive/metadata.yaml", "rosbag2"),
        _file("ros2_drive/ros2_drive_0.mcap", "rosbag2"),
        _file("ros2_drive/ros2_drive_1.mcap", "rosbag2"),
        _file("ros1_drive.bag", "rosbag1"),
        _file("vehicle.mf4", "mdf4"),
        _file("vehicle.dbc", "dbc"),
        _file("daq/run.tdms", "tdms"),
        _file("bare.mcap", "mcap"),
        _file("truth.json", "other"),
    ]
    found = [(r.path, r.format) for r in find_recordings(files)]
    assert found == [
        ("bare.mcap", "mcap"),
        ("daq/run.tdms", "tdms"),
        ("ros1_drive.bag", "rosbag1"),
        ("ros2_drive", "rosbag2"),
        ("vehicle.mf4", "mdf4"),
    ]


def test_each_job_runs_validate_first_and_every_other_kind_after_it() -> None:
    recordings = find_recordings([_file("daq/run.tdms", "tdms"), _file("drive.bag", "rosbag1")])
    jobs = plan_jobs(
        recordings,
        load_extraction_config(),
        raw_prefix="2026/05/04/VIN/m1/raw1",
        extracted_prefix="2026/05/04/VIN/m1/ex1",
        measurement_id="m1",
        datastream_id="ex1",
        instance_id="inst",
    )
    assert [job.recording.path for job in jobs] == ["daq/run.tdms", "drive.bag"]
    tdms = jobs[0]
    assert tdms.spec.job_id == derive_job_id("extract", "ex1", "daq/run.tdms")
    assert tdms.output_prefix == "2026/05/04/VIN/m1/ex1/daq_run.tdms"
    assert [t.task_id for t in tdms.spec.tasks] == ["validate", "metadata", "structured"]
    assert tdms.spec.task("validate").depends_on == []
    assert all(t.depends_on == ["validate"] for t in tdms.spec.tasks[1:])
    command = tdms.spec.task("metadata").command
    assert command[:4] == ["python", "-m", "extract_worker", "run"]
    args = dict(zip(command[4::2], command[5::2], strict=True))
    assert args == {
        "--task": "metadata",
        "--input": "{zone:raw}/2026/05/04/VIN/m1/raw1/daq/run.tdms",
        "--output": "{zone:extracted}/2026/05/04/VIN/m1/ex1/daq_run.tdms",
        "--measurement-id": "m1",
        "--datastream-id": "ex1",
        "--job-id": tdms.spec.job_id,
        "--task-id": "metadata",
        "--instance-id": "inst",
    }
    assert tdms.spec.labels.datastream_id == "ex1"
    assert len(jobs[1].spec.tasks) == len(ROS_KINDS)


def test_the_measurements_dbc_sidecars_go_to_every_can_task_and_no_other() -> None:
    """Without its DBCs the can task extracts frames but never the signals."""
    files = [
        _file("vehicle.mf4", "mdf4"),
        _file("drive.bag", "rosbag1"),
        _file("dbc/powertrain.dbc", "dbc"),
        _file("chassis.dbc", "dbc"),
    ]
    assert find_dbc_files(files) == ["chassis.dbc", "dbc/powertrain.dbc"]
    jobs = plan_jobs(
        find_recordings(files),
        load_extraction_config(),
        raw_prefix="r/raw1",
        extracted_prefix="e/ex1",
        measurement_id="m1",
        datastream_id="ex1",
        instance_id="inst",
        dbc_files=find_dbc_files(files),
    )
    can_tasks = 0
    for job in jobs:
        for task in job.spec.tasks:
            dbc = [task.command[i + 1] for i, arg in enumerate(task.command) if arg == "--dbc"]
            if task.task_id == "can":
                can_tasks += 1
                assert dbc == [
                    "{zone:raw}/r/raw1/chassis.dbc",
                    "{zone:raw}/r/raw1/dbc/powertrain.dbc",
                ]
            else:
                assert dbc == [], task.task_id
    assert can_tasks == 2


def test_job_ids_are_deterministic_per_datastream_and_recording() -> None:
    recordings = find_recordings([_file("drive.bag", "rosbag1")])
    plan = {
        "raw_prefix": "r",
        "extracted_prefix": "e",
        "measurement_id": "m",
        "instance_id": "i",
    }
    config = load_extraction_config()
    once = plan_jobs(recordings, config, datastream_id="a", **plan)[0].spec
    again = plan_jobs(recordings, config, datastream_id="a", **plan)[0].spec
    other = plan_jobs(recordings, config, datastream_id="b", **plan)[0].spec
    assert once == again
    assert once.job_id != other.job_id


def test_poll_interval_doubles_from_5_to_60_seconds() -> None:
    waits = [5]
    while waits[-1] < 60:
        waits.append(next_poll_seconds(waits[-1]))
    assert waits == [5, 10, 20, 40, 60]
    assert next_poll_seconds(60) == 60


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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "metadata.sqlite3")
    yield opened
    opened.close()


def _ingested(store: SqliteStore, raw_state: DatastreamState) -> tuple[str, str]:
    files = [
        FileRecord(path="ros2/metadata.yaml", format="rosbag2", size=1, sha256="a" * 64),
        FileRecord(path="ros2/ros2_0.mcap", format="rosbag2", size=1, sha256="b" * 64),
        FileRecord(path="vehicle.mf4", format="mdf4", size=1, sha256="c" * 64),
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
            total_bytes=len(files),
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


def test_prepare_makes_one_processing_datastream_and_submits_idempotently(
    store: SqliteStore,
) -> None:
    measurement_id, raw_id = _ingested(store, DatastreamState.COMPLETED)
    backend = FakeBackend()
    ids = {
        "measurement_id": measurement_id,
        "raw_datastream_id": raw_id,
        "datastream_id": "ex-1",
        "instance_id": "inst-1",
    }
    first = prepare_extraction(store, backend, **ids)
    # An activity retry: same datastream, same jobs, nothing new.
    again = prepare_extraction(store, backend, **ids)
    assert first == again
    assert [job["recording"] for job in first["jobs"]] == ["ros2", "vehicle.mf4"]
    assert first["path"] == "2026/05/04/VIN1/m-1/ex-1"
    assert len(backend.specs) == 2
    extracted = store.list_datastreams(measurement_id, DatastreamType.EXTRACTED)
    assert [(d.id, d.state, d.sources) for d in extracted] == [
        ("ex-1", DatastreamState.PROCESSING, [raw_id])
    ]
    assert extracted[0].producer.step == "extract"
    assert extracted[0].producer.instance_id == "inst-1"
    # While it runs, a rerun is refused.
    with pytest.raises(ConflictError, match="in progress"):
        extraction_target(store, measurement_id)


def test_fail_names_recording_task_exit_code_and_log_and_cancels_the_rest(
    store: SqliteStore,
) -> None:
    measurement_id, raw_id = _ingested(store, DatastreamState.COMPLETED)
    backend = FakeBackend()
    prepared = prepare_extraction(
        store,
        backend,
        measurement_id=measurement_id,
        raw_datastream_id=raw_id,
        datastream_id="ex-1",
        instance_id="inst-1",
    )
    ros2, mdf = (JobRef.from_dict(job) for job in prepared["jobs"])
    backend.states[ros2.job_id]["validate"] = TaskStatus(
        state=TaskState.FAILED, exit_code=2, log_location="/logs/ros2/validate.log"
    )
    for kind in ros2.kinds[1:]:
        backend.states[ros2.job_id][kind] = TaskStatus(state=TaskState.BLOCKED)
    poll = poll_jobs(backend, [ros2.job_id, mdf.job_id])
    # The ROS 2 job is settled and FAILED; the MDF one still runs.
    assert poll == {
        "settled": False,
        "tasks_done": 9,
        "tasks_total": 13,
        "failed": [ros2.job_id],
    }
    result = fail_extraction(store, backend, datastream_id="ex-1", jobs=[ros2, mdf])
    assert result["reason"] == "recording ros2 task validate exit 2 log /logs/ros2/validate.log"
    assert backend.canceled == [mdf.job_id]
    failed = store.get_datastream("ex-1")
    assert failed.state is DatastreamState.FAILED
    assert failed.state_reason == result["reason"]
    # Done with it: a rerun may start, from the same RAW datastream.
    assert extraction_target(store, measurement_id).raw.id == raw_id


def test_a_rerun_needs_a_known_measurement_with_a_completed_raw_datastream(
    store: SqliteStore,
) -> None:
    with pytest.raises(NotFoundError):
        extraction_target(store, "m-unknown")
    measurement_id, _ = _ingested(store, DatastreamState.COPYING)
    with pytest.raises(ConflictError, match="no COMPLETED RAW"):
        extraction_target(store, measurement_id)
