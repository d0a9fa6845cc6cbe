"""Alignment (nearest match, interpolation), change-feed routing, and the store-only steps."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataops.activity_contracts.steps import SYNCHRONIZE
from dataops.downstream import decode_datastream, downstream_starts, plan_downstream
from dataops.errors import InvalidInputError
from dataops.ids import instance_id_for
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from dataops.synchronization.alignment import NO_MATCH, interpolate, nearest_match, sort_timeline
from dataops.synchronization.config import SynchronizationConfig
from dataops.synchronization.steps import (
    Sensor,
    fail_synchronization,
    load_timeline,
    prepare_synchronization,
    run_synchronization,
)
from orchestrators.derived_step import StepFailedError, derived_step
from tests.orchestration_context import RecordingContext
from tests.store_seed import add_measurement, completed, derived

MS = 1_000_000


def ns(*values_ms: float) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.array([round(v * MS) for v in values_ms], dtype=np.int64)


def test_nearest_match_picks_the_closest_sample_within_tolerance() -> None:
    reference = ns(0, 100, 200, 300)
    samples = ns(-4, 98, 103, 260, 500)
    match = nearest_match(reference, samples, 10 * MS)
    assert match.index.tolist() == [0, 1, NO_MATCH, NO_MATCH]
    assert match.offset_ns.tolist() == [-4 * MS, -2 * MS, 0, 0]
    assert match.match_count == 2
    assert match.max_abs_offset_ns() == 4 * MS
    # A wider tolerance reaches 260 from 300 (40 ms) but 200 is 60 ms from both neighbours.
    wide = nearest_match(reference, samples, 50 * MS)
    assert wide.index.tolist() == [0, 1, NO_MATCH, 3]
    assert wide.offset_ns.tolist() == [-4 * MS, -2 * MS, 0, -40 * MS]


def test_tolerance_is_inclusive_and_ties_go_to_the_earlier_sample() -> None:
    match = nearest_match(ns(100), ns(90, 110), 10 * MS)
    assert match.index.tolist() == [0]
    assert match.offset_ns.tolist() == [-10 * MS]


def test_duplicate_timestamps_match_the_first_of_them() -> None:
    samples = ns(0, 50, 50, 50, 120)
    match = nearest_match(ns(49, 51, 130), samples, 20 * MS)
    assert match.index.tolist() == [1, 1, 4]
    assert match.offset_ns.tolist() == [1 * MS, -1 * MS, -10 * MS]


def test_empty_sensor_matches_nothing() -> None:
    match = nearest_match(ns(0, 100), np.zeros(0, np.int64), 10 * MS)
    assert match.index.tolist() == [NO_MATCH, NO_MATCH]
    assert match.match_count == 0
    assert match.max_abs_offset_ns() is None


def test_one_sample_and_references_outside_the_range() -> None:
    match = nearest_match(ns(-1000, 0, 5, 1000), ns(3), 5 * MS)
    assert match.index.tolist() == [NO_MATCH, 0, 0, NO_MATCH]
    assert match.offset_ns.tolist() == [0, 3 * MS, -2 * MS, 0]


def test_nearest_match_checks_its_input() -> None:
    with pytest.raises(ValueError, match="sorted"):
        nearest_match(ns(0), ns(5, 1), MS)
    with pytest.raises(ValueError, match="integer"):
        nearest_match(np.array([0.5]), ns(0), MS)
    with pytest.raises(ValueError, match="negative"):
        nearest_match(ns(0), ns(0), -1)


def test_interpolation_is_linear_inside_and_null_outside_the_range() -> None:
    samples = ns(0, 100, 200)
    values = np.array([0.0, 10.0, 30.0])
    out = interpolate(ns(-1, 0, 50, 150, 200, 201), samples, values)
    assert out[1:5].tolist() == [0.0, 5.0, 20.0, 30.0]
    assert np.isnan(out[0]) and np.isnan(out[5])


def test_interpolation_keeps_nanosecond_precision_on_unix_times() -> None:
    base = 1_777_882_860_000_000_000
    samples = np.array([base, base + 10], dtype=np.int64)
    out = interpolate(np.array([base + 3], dtype=np.int64), samples, np.array([1.0, 2.0]))
    assert out.tolist() == pytest.approx([1.3])


def test_interpolation_edge_cases() -> None:
    # empty signal
    assert np.isnan(interpolate(ns(0, 1), np.zeros(0, np.int64), np.zeros(0))).all()
    # one sample: only its own time
    one = interpolate(ns(0, 10, 20), ns(10), np.array([7.0]))
    assert np.isnan(one[0]) and one[1] == 7.0 and np.isnan(one[2])
    # duplicates: the first value counts
    dup = interpolate(ns(0, 5, 10), ns(0, 10, 10), np.array([0.0, 4.0, 100.0]))
    assert dup.tolist() == [0.0, 2.0, 4.0]
    # NaN samples are skipped, not propagated
    gap = interpolate(ns(50), ns(0, 40, 100), np.array([0.0, np.nan, 10.0]))
    assert gap.tolist() == [5.0]
    # a dropout longer than max_gap is null; the samples themselves stay valid
    drop = interpolate(ns(0, 50, 100), ns(0, 100), np.array([1.0, 3.0]), max_gap_ns=60 * MS)
    assert drop[0] == 1.0 and np.isnan(drop[1]) and drop[2] == 3.0
    with pytest.raises(ValueError, match="same length"):
        interpolate(ns(0), ns(0, 1), np.array([1.0]))


def test_sort_timeline_is_stable() -> None:
    assert sort_timeline(ns(30, 10, 30, 20)).tolist() == [1, 3, 0, 2]


def test_tolerances_by_sensor_glob_then_kind_then_default() -> None:
    config = SynchronizationConfig(
        default_tolerance_ms=50,
        tolerances_ms={"imu": 10},
        sensor_tolerances_ms={"ros1*/imu/*": 4.5},
    )
    assert config.tolerance_ns("ros1_drive.bag/imu/imu_data", "imu") == 4_500_000
    assert config.tolerance_ns("ros2_drive/imu/imu_data", "imu") == 10 * MS
    assert config.tolerance_ns("ros2_drive/gps/gps_fix", "gps") == 50 * MS
    with pytest.raises(ValueError, match="camera"):
        SynchronizationConfig(kinds=["imu"])


def _datastream(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "ds-1",
        "measurement_id": "m-1",
        "type": "EXTRACTED",
        "state": "COMPLETED",
        "zone": "extracted",
        "path": "2026/05/04/V/m-1/ds-1",
        "producer": {"step": "extract", "code_version": "0.1.0"},
        "etag": "e1",
    }
    document.update(changes)
    return document


def test_routing_starts_synchronize_once_per_completed_extracted_datastream() -> None:
    """Each COMPLETED source starts its step once per batch; other states and SCENES start none."""
    batch = [
        _datastream(),
        _datastream(),  # redelivered in the same batch
        _datastream(id="ds-2", state="PROCESSING"),
        _datastream(id="ds-3", type="RAW", zone="raw"),
        _datastream(id="ds-4", type="SYNCHRONIZED", zone="curated"),
        _datastream(id="ds-6", type="ENRICHED", zone="curated"),
        _datastream(id="ds-7", type="SCENES", zone="curated"),  # the end of the chain
    ]
    starts = downstream_starts(batch)
    assert [(s.orchestrator, s.instance_id) for s in starts] == [
        ("synchronize", instance_id_for("synchronize", "ds-1")),
        ("enrich", instance_id_for("enrich", "ds-4")),  # SYNCHRONIZED -> enrich only
        ("detect_scenes", instance_id_for("detect_scenes", "ds-6")),  # ENRICHED -> scenes
    ]
    assert starts[0].input == {"measurement_id": "m-1", "source_datastream_id": "ds-1"}


def test_a_document_that_is_no_datastream_fails_the_batch_after_the_others_started() -> None:
    """An undecodable document is an error naming it and the field, never a skipped line."""
    batch = [
        {"id": "m-1", "vehicle_id": "V"},  # a measurement in the datastreams feed
        _datastream(),
        {**_datastream(id="ds-9"), "state": "DONE"},
    ]
    plan = plan_downstream(batch)
    assert [s.instance_id for s in plan.starts] == [instance_id_for("synchronize", "ds-1")]
    assert [(e.source, e.field) for e in plan.errors] == [
        ("datastreams document 'm-1'", "measurement_id"),
        ("datastreams document 'ds-9'", "state"),
    ]
    with pytest.raises(InvalidInputError, match=r"2 change-feed document\(s\).*'ds-9': state"):
        plan.raise_errors()
    with pytest.raises(InvalidInputError, match="'m-1'"):
        downstream_starts(batch)
    with pytest.raises(InvalidInputError) as cosmos:
        decode_datastream({**_datastream(id="ds-8"), "_etag": 5})
    assert (cosmos.value.source, cosmos.value.field) == ("datastreams document 'ds-8'", "_etag")


class _NoStorage:
    """Stands in for BlobZones where a step must not touch storage: any use fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"storage was used: {name}")


def _store_with_extracted(tmp_path: Path, *, logger_synchronized: bool) -> SqliteStore:
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    add_measurement(store, logger_synchronized=logger_synchronized)
    completed(store, derived("ds-1", DatastreamType.EXTRACTED, "extract"))
    return store


def test_logger_synchronized_measurements_are_skipped_without_output(tmp_path: Path) -> None:
    store = _store_with_extracted(tmp_path, logger_synchronized=True)
    kwargs = {"source_datastream_id": "ds-1", "datastream_id": "sync-1", "instance_id": "i-1"}
    prepared = prepare_synchronization(store, **kwargs)
    assert prepare_synchronization(store, **kwargs) == prepared  # idempotent retry
    assert prepared["path"] == "2026/05/04/WAVSAMPLE00000000/m-1/sync-1"
    zones = cast(BlobZones, _NoStorage())
    result = run_synchronization(zones, store, datastream_id="sync-1")
    assert result["skipped"] == "logger_synchronized"
    synchronized = store.get_datastream("sync-1")
    assert synchronized.type is DatastreamType.SYNCHRONIZED
    assert synchronized.zone is Zone.CURATED
    assert synchronized.state is DatastreamState.COMPLETED
    assert synchronized.stats == {"skipped": "logger_synchronized"}
    assert synchronized.sources == ["ds-1"]
    assert synchronized.producer.step == "synchronize"
    assert synchronized.file_count == 0
    # A retried run after the commit reports the same and changes nothing.
    assert run_synchronization(zones, store, datastream_id="sync-1") == result
    store.close()


def test_prepare_refuses_an_unfinished_source_and_fail_marks_failed(tmp_path: Path) -> None:
    store = _store_with_extracted(tmp_path, logger_synchronized=False)
    store.create_datastream(derived("ds-2", DatastreamType.EXTRACTED, "extract"))
    with pytest.raises(InvalidInputError, match="not COMPLETED"):
        prepare_synchronization(
            store, source_datastream_id="ds-2", datastream_id="sync-x", instance_id="i"
        )
    prepared = prepare_synchronization(
        store, source_datastream_id="ds-1", datastream_id="sync-1", instance_id="i-1"
    )
    with pytest.raises(InvalidInputError, match="not EXTRACTED"):
        prepare_synchronization(
            store,
            source_datastream_id=prepared["datastream_id"],
            datastream_id="s",
            instance_id="i",
        )
    prepare_synchronization(
        store, source_datastream_id="ds-1", datastream_id="sync-2", instance_id="i-2"
    )
    failed = fail_synchronization(store, datastream_id="sync-2", reason="boom")
    assert failed == {"datastream_id": "sync-2", "reason": "boom"}
    stored = store.get_datastream("sync-2")
    assert stored.state is DatastreamState.FAILED
    assert stored.state_reason == "boom"
    # Nothing made yet (failure before prepare): nothing to mark, no error.
    assert fail_synchronization(store, datastream_id="never", reason="early")["reason"] == "early"
    store.close()


def test_orchestrator_prepares_runs_and_on_failure_marks_the_datastream_failed() -> None:
    params = {"measurement_id": "m-1", "source_datastream_id": "ds-1"}
    context = RecordingContext(params, instance_id="synchronize-abc")
    run = derived_step(cast(Any, context), step=SYNCHRONIZE)
    assert next(run) == (
        "synchronize_prepare",
        {
            "source_datastream_id": "ds-1",
            "datastream_id": "sync-uuid",
            "instance_id": context.instance_id,
        },
    )
    assert run.send({"datastream_id": "sync-uuid"}) == (
        "synchronize_run",
        {"datastream_id": "sync-uuid"},
    )
    with pytest.raises(StopIteration) as done:
        run.send({"datastream_id": "sync-uuid", "rows": 200})
    assert done.value.value == {"datastream_id": "sync-uuid", "rows": 200, "status": "Completed"}
    assert context.statuses[-1]["stage"] == "completed"

    failing = derived_step(cast(Any, RecordingContext(params)), step=SYNCHRONIZE)
    next(failing)
    next_call = failing.send({"datastream_id": "sync-uuid"})
    assert next_call[0] == "synchronize_run"
    # A terminal failure of the run activity (its marker says so): no retry, straight to fail.
    terminal = RuntimeError("[avops-error terminal ValueError] no time_ns column\nsecond line")
    assert failing.throw(terminal) == (
        "synchronize_fail",
        {"datastream_id": "sync-uuid", "reason": "ValueError: no time_ns column"},
    )
    with pytest.raises(StepFailedError, match="no time_ns column"):
        failing.send({"datastream_id": "sync-uuid", "reason": "no time_ns column"})


class _DirZones:
    """Reads "extracted" blobs from a local directory (what the steps need of BlobZones)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_bytes(self, zone: Zone, path: str, *, max_bytes: int) -> Any:
        data = (self.root / path).read_bytes()
        assert len(data) <= max_bytes
        return SimpleNamespace(data=data, etag="e")


def test_timelines_keep_frame_rows_dedupe_point_frames_and_sort(tmp_path: Path) -> None:
    camera = tmp_path / "rec/camera/cam"
    camera.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "time_ns": pa.array([300, 100, 200], pa.int64()),
                "path": ["frames/part-00000.parquet", "cam/a.jpg", "frames/part-00000.parquet"],
                "part_row": pa.array([7, None, 6], pa.int32()),
            }
        ),
        camera / "index.parquet",
    )
    points = tmp_path / "rec/lidar/pts/points"
    points.mkdir(parents=True)
    pq.write_table(
        pa.table({"frame": [0, 0, 1, 1, 1], "time_ns": pa.array([10, 10, 20, 20, 20], pa.int64())}),
        points / "part-00000.parquet",
    )
    imu = tmp_path / "rec/imu/imu"
    imu.mkdir(parents=True)
    pq.write_table(
        pa.table({"time_ns": pa.array([0, 10], pa.int64()), "angular_velocity.z": ["a", "b"]}),
        imu / "data.parquet",
    )
    zones = cast(BlobZones, _DirZones(tmp_path))
    config = SynchronizationConfig(
        signals=[
            {"name": "yaw", "sources": [{"sensor": "*/imu/*", "column": "angular_velocity.z"}]}
        ]
    )
    cam = load_timeline(
        zones,
        Sensor("rec/camera/cam", "rec", "camera", ["rec/camera/cam/index.parquet"]),
        config,
        with_signals=False,
    )
    assert cam.times.tolist() == [100, 200, 300]
    assert cam.rows.tolist() == [1, 6, 7]  # index row where part_row is null
    assert cam.frame_paths is not None
    assert cam.frame_paths.to_pylist() == [
        "rec/camera/cam/a.jpg",
        "rec/camera/frames/part-00000.parquet",
        "rec/camera/frames/part-00000.parquet",
    ]
    lidar = load_timeline(
        zones,
        Sensor("rec/lidar/pts", "rec", "lidar", ["rec/lidar/pts/points/part-00000.parquet"]),
        config,
        with_signals=True,
    )
    assert lidar.times.tolist() == [10, 20]
    assert lidar.rows.tolist() == [0, 2]
    with pytest.raises(InvalidInputError, match="not numeric"):
        load_timeline(
            zones,
            Sensor("rec/imu/imu", "rec", "imu", ["rec/imu/imu/data.parquet"]),
            config,
            with_signals=True,
        )
