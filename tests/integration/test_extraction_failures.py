"""How a failed extraction is reported: the failed tasks named by recording, kind, exit code and
log, read from the batch backend and, for a task that ran several kinds, from the commit markers
those kinds left in the extracted zone (Azurite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from dataops.batch import TaskState, TaskStatus
from dataops.extraction import JobRef, fail_extraction, poll_jobs, prepare_extraction
from dataops.extraction.plan import COMBINED_TASK_ID
from dataops.extraction.rerun import extraction_target
from dataops.models import DatastreamState
from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones
from dataops.store.sqlite import SqliteStore
from devhost.services.azurite import AzuriteBlob
from tests.extraction_support import ROS_KINDS, FakeBackend, ingested_measurement


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "metadata.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def zones(azurite: AzuriteBlob) -> Iterator[BlobZones]:
    """The extracted zone on Azurite, where failed combined tasks' markers are looked up."""
    opened = BlobZones(
        ConnectionStringZones(azurite.connection_string, container_prefix=f"x{uuid4().hex[:8]}-")
    )
    opened.ensure_containers([Zone.EXTRACTED])
    yield opened
    opened.close()


def _prepared(store: SqliteStore, backend: FakeBackend) -> tuple[str, str, JobRef, JobRef]:
    measurement_id, raw_id = ingested_measurement(store, DatastreamState.COMPLETED)
    prepared = prepare_extraction(
        store,
        backend,
        measurement_id=measurement_id,
        raw_datastream_id=raw_id,
        datastream_id="ex-1",
        instance_id="inst-1",
    )
    ros2, mdf = (JobRef.from_dict(job) for job in prepared["jobs"])
    return measurement_id, raw_id, ros2, mdf


@pytest.mark.azurite
def test_fail_names_recording_task_exit_code_and_log_and_cancels_the_rest(
    store: SqliteStore, zones: BlobZones
) -> None:
    backend = FakeBackend()
    measurement_id, raw_id, ros2, mdf = _prepared(store, backend)
    backend.states[ros2.job_id]["validate"] = TaskStatus(
        state=TaskState.FAILED, exit_code=2, log_location="/logs/ros2/validate.log"
    )
    for kind in ros2.kinds[1:]:
        backend.states[ros2.job_id][kind] = TaskStatus(state=TaskState.BLOCKED)
    poll = poll_jobs(backend, [ros2.job_id, mdf.job_id])
    # The ROS 2 job is settled and FAILED; the MDF one (one task) still runs.
    assert poll == {
        "settled": False,
        "tasks_done": 9,
        "tasks_total": 10,
        "failed": [ros2.job_id],
    }
    result = fail_extraction(store, backend, zones, datastream_id="ex-1", jobs=[ros2, mdf])
    assert result["reason"] == "recording ros2 task validate exit 2 log /logs/ros2/validate.log"
    assert backend.canceled == [mdf.job_id]
    failed = store.get_datastream("ex-1")
    assert failed.state is DatastreamState.FAILED
    assert failed.state_reason == result["reason"]
    # Done with it: a rerun may start, from the same RAW datastream.
    assert extraction_target(store, measurement_id).raw.id == raw_id


@pytest.mark.azurite
def test_a_failed_combined_task_is_named_by_the_kinds_it_left_uncommitted(
    store: SqliteStore, zones: BlobZones
) -> None:
    """validate committed, metadata committed, structured and can not: those two failed."""
    backend = FakeBackend()
    _, _, ros2, mdf = _prepared(store, backend)
    for kind in ("validate", "metadata"):
        zones.write_bytes(Zone.EXTRACTED, f"{mdf.output_prefix}/{kind}/_SUCCESS", b"run\n")
    backend.states[mdf.job_id][COMBINED_TASK_ID] = TaskStatus(
        state=TaskState.FAILED, exit_code=3, log_location="/logs/mdf/kinds.log"
    )
    backend.states[ros2.job_id] = {
        kind: TaskStatus(state=TaskState.SUCCEEDED) for kind in ROS_KINDS
    }
    result = fail_extraction(store, backend, zones, datastream_id="ex-1", jobs=[ros2, mdf])
    assert result["failed_tasks"] == [
        "recording vehicle.mf4 task structured exit 3 log /logs/mdf/kinds.log",
        "recording vehicle.mf4 task can exit 3 log /logs/mdf/kinds.log",
    ]
    assert backend.canceled == []


@pytest.mark.azurite
def test_a_combined_task_without_a_committed_validate_names_validate_alone(
    store: SqliteStore, zones: BlobZones
) -> None:
    """The worker stops at a failed validate: the kinds after it never ran, and are not named."""
    backend = FakeBackend()
    mdf = _prepared(store, backend)[3]
    backend.states[mdf.job_id][COMBINED_TASK_ID] = TaskStatus(
        state=TaskState.FAILED, exit_code=2, log_location="/logs/mdf/kinds.log"
    )
    result = fail_extraction(store, backend, zones, datastream_id="ex-1", jobs=[mdf])
    assert result["failed_tasks"] == [
        "recording vehicle.mf4 task validate exit 2 log /logs/mdf/kinds.log"
    ]
    assert store.get_datastream("ex-1").state is DatastreamState.FAILED
