"""Extraction planning (config, overrides, recordings, jobs, poll intervals) and the steps
prepare / poll / fail / rerun target on a SQLite store with a fake batch backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops.batch import derive_job_id
from dataops.errors import ConflictError, InvalidInputError, NotFoundError
from dataops.extraction import (
    ExtractionConfig,
    JobRef,
    PlannedJob,
    find_dbc_files,
    find_recordings,
    load_extraction_config,
    plan_jobs,
    prepare_extraction,
)
from dataops.extraction.config import DEFAULT_CONFIG_PATH
from dataops.extraction.plan import COMBINED_TASK_ID
from dataops.extraction.rerun import extraction_target
from dataops.models import (
    DatastreamState,
    DatastreamType,
    FileRecord,
)
from dataops.store.sqlite import SqliteStore
from orchestrators.extract import next_poll_seconds
from tests.extraction_support import MB, ROS_KINDS, FakeBackend, ingested_measurement


def _file(path: str, fmt: str, size: int = 1) -> FileRecord:
    return FileRecord(path=path, format=fmt, size=size)


def _plan(files: list[FileRecord], config: ExtractionConfig | None = None) -> list[PlannedJob]:
    return plan_jobs(
        find_recordings(files),
        config or load_extraction_config(),
        raw_prefix="2026/05/04/VIN/m1/raw1",
        extracted_prefix="2026/05/04/VIN/m1/ex1",
        measurement_id="m1",
        datastream_id="ex1",
        instance_id="inst",
        dbc_files=find_dbc_files(files),
    )


def _args(command: list[str]) -> dict[str, str]:
    """The worker's options after ``python -m extract_worker run`` (each given once)."""
    assert command[:4] == ["python", "-m", "extract_worker", "run"]
    return dict(zip(command[4::2], command[5::2], strict=True))


def test_checked_in_config_maps_each_recording_format_to_its_kinds() -> None:
    config = load_extraction_config()
    assert config.kinds_for("rosbag1") == ROS_KINDS
    assert config.kinds_for("rosbag2") == ROS_KINDS
    assert config.kinds_for("mcap") == ROS_KINDS
    assert config.kinds_for("mdf4") == ["validate", "metadata", "structured", "can"]
    assert config.kinds_for("tdms") == ["validate", "metadata", "structured"]
    assert config.kinds_for("dbc") == []
    assert config.max_retries == 2
    assert config.combine_kinds_max_mb == 512


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
        ({"combine_kinds_max_mb": -1}, "greater than or equal to 0"),
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
        _file("ros2_drive/metadata.yaml", "rosbag2", 2),
        _file("ros2_drive/ros2_drive_0.mcap", "rosbag2", 30),
        _file("ros2_drive/ros2_drive_1.mcap", "rosbag2", 40),
        _file("ros1_drive.bag", "rosbag1", 5),
        _file("vehicle.mf4", "mdf4", 6),
        _file("vehicle.dbc", "dbc"),
        _file("daq/run.tdms", "tdms", 7),
        _file("bare.mcap", "mcap", 8),
        _file("truth.json", "other"),
    ]
    found = [(r.path, r.format, r.size) for r in find_recordings(files)]
    # A bag directory's size is the sum of its files.
    assert found == [
        ("bare.mcap", "mcap", 8),
        ("daq/run.tdms", "tdms", 7),
        ("ros1_drive.bag", "rosbag1", 5),
        ("ros2_drive", "rosbag2", 72),
        ("vehicle.mf4", "mdf4", 6),
    ]


def test_a_large_recording_gets_a_task_per_kind_validate_first() -> None:
    """Above combine_kinds_max_mb the kinds run in parallel: one task each, after validate."""
    jobs = _plan([_file("drive.bag", "rosbag1", 600 * MB)])
    (job,) = jobs
    assert job.spec.job_id == derive_job_id("extract", "ex1", "drive.bag")
    assert job.output_prefix == "2026/05/04/VIN/m1/ex1/drive.bag"
    assert job.kinds == ROS_KINDS
    assert [t.task_id for t in job.spec.tasks] == ROS_KINDS
    assert job.spec.task("validate").depends_on == []
    assert all(t.depends_on == ["validate"] for t in job.spec.tasks[1:])
    assert all(t.resources.max_wall_clock_s == 3600 for t in job.spec.tasks)
    assert _args(job.spec.task("metadata").command) == {
        "--task": "metadata",
        "--input": "{zone:raw}/2026/05/04/VIN/m1/raw1/drive.bag",
        "--output": "{zone:extracted}/2026/05/04/VIN/m1/ex1/drive.bag",
        "--measurement-id": "m1",
        "--datastream-id": "ex1",
        "--job-id": job.spec.job_id,
        "--task-id": "metadata",
        "--instance-id": "inst",
    }
    assert job.spec.labels.datastream_id == "ex1"


def test_a_small_recording_gets_one_task_running_every_kind() -> None:
    """One process and one download for all kinds; its deadline covers every kind."""
    (job,) = _plan([_file("daq/run.tdms", "tdms", 9 * MB)])
    assert job.kinds == ["validate", "metadata", "structured"]
    (task,) = job.spec.tasks
    assert task.task_id == COMBINED_TASK_ID == "kinds"
    assert task.depends_on == []
    assert task.max_retries == 2
    assert task.resources.max_wall_clock_s == 3 * 3600
    assert task.command == [
        "python", "-m", "extract_worker", "run",
        "--task", "validate", "--task", "metadata", "--task", "structured",
        "--input", "{zone:raw}/2026/05/04/VIN/m1/raw1/daq/run.tdms",
        "--output", "{zone:extracted}/2026/05/04/VIN/m1/ex1/daq_run.tdms",
        "--measurement-id", "m1",
        "--datastream-id", "ex1",
        "--job-id", job.spec.job_id,
        "--task-id", "kinds",
        "--instance-id", "inst",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("sizes", "limit_mb", "combined"),
    [
        ([512 * MB], 512, True),  # at the limit
        ([512 * MB + 1], 512, False),
        ([300 * MB, 300 * MB], 512, False),  # a bag directory: its files add up
        ([100 * MB, 100 * MB], 512, True),
        ([0], 0, False),  # 0: never combined
        ([600 * MB], 1024, True),
    ],
)
def test_combine_kinds_max_mb_decides_the_shape_by_the_recordings_total_size(
    tmp_path: Path, sizes: list[int], limit_mb: int, combined: bool
) -> None:
    path = _config_file(tmp_path, {"project:p": {"combine_kinds_max_mb": limit_mb}})
    config = load_extraction_config(path, project="p")
    files = [_file(f"bag/part_{i}.mcap", "rosbag2", size) for i, size in enumerate(sizes)]
    (job,) = _plan(files, config)
    task_ids = [task.task_id for task in job.spec.tasks]
    assert task_ids == ([COMBINED_TASK_ID] if combined else ROS_KINDS)
    assert job.kinds == ROS_KINDS


def test_the_measurements_dbc_sidecars_go_to_every_task_running_can_and_no_other() -> None:
    """Without its DBCs the can kind extracts frames but never the signals."""
    files = [
        _file("vehicle.mf4", "mdf4", 600 * MB),
        _file("drive.bag", "rosbag1", 600 * MB),
        _file("small.mf4", "mdf4", MB),
        _file("tiny.tdms", "tdms", MB),
        _file("dbc/powertrain.dbc", "dbc"),
        _file("chassis.dbc", "dbc"),
    ]
    assert find_dbc_files(files) == ["chassis.dbc", "dbc/powertrain.dbc"]
    expected = ["{zone:raw}/2026/05/04/VIN/m1/raw1/chassis.dbc"]
    expected.append("{zone:raw}/2026/05/04/VIN/m1/raw1/dbc/powertrain.dbc")
    with_dbc = []
    for job in _plan(files):
        for task in job.spec.tasks:
            dbc = [task.command[i + 1] for i, arg in enumerate(task.command) if arg == "--dbc"]
            kinds = [task.command[i + 1] for i, arg in enumerate(task.command) if arg == "--task"]
            assert dbc == (expected if "can" in kinds else []), (job.recording.path, kinds)
            if dbc:
                with_dbc.append((job.recording.path, task.task_id))
    # The TDMS kinds have no can.
    assert sorted(with_dbc) == [
        ("drive.bag", "can"),
        ("small.mf4", COMBINED_TASK_ID),
        ("vehicle.mf4", "can"),
    ]


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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "metadata.sqlite3")
    yield opened
    opened.close()


def test_prepare_makes_one_processing_datastream_and_submits_idempotently(
    store: SqliteStore,
) -> None:
    measurement_id, raw_id = ingested_measurement(store, DatastreamState.COMPLETED)
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
    # JobRef.kinds are the kinds (record_extraction reads each one's manifest), whatever the
    # task ids: a task per kind for the large bag, one task for the small MDF file.
    ros2, mdf = (JobRef.from_dict(job) for job in first["jobs"])
    assert ros2.kinds == ROS_KINDS
    assert [t.task_id for t in backend.specs[ros2.job_id].tasks] == ROS_KINDS
    assert mdf.kinds == ["validate", "metadata", "structured", "can"]
    assert [t.task_id for t in backend.specs[mdf.job_id].tasks] == [COMBINED_TASK_ID]
    extracted = store.list_datastreams(measurement_id, DatastreamType.EXTRACTED)
    assert [(d.id, d.state, d.sources) for d in extracted] == [
        ("ex-1", DatastreamState.PROCESSING, [raw_id])
    ]
    assert extracted[0].producer.step == "extract"
    assert extracted[0].producer.instance_id == "inst-1"
    # While it runs, a rerun is refused.
    with pytest.raises(ConflictError, match="in progress"):
        extraction_target(store, measurement_id)


def test_a_rerun_needs_a_known_measurement_with_a_completed_raw_datastream(
    store: SqliteStore,
) -> None:
    with pytest.raises(NotFoundError):
        extraction_target(store, "m-unknown")
    measurement_id, _ = ingested_measurement(store, DatastreamState.COPYING)
    with pytest.raises(ConflictError, match="no COMPLETED RAW"):
        extraction_target(store, measurement_id)
