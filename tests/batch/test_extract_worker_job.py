"""The real worker through the local pool: a validate -> metadata job on a ROS 1 bag, and a
truncated bag failing with exit 2 and blocking its dependents."""

from __future__ import annotations

from pathlib import Path

from dataops.batch.local_pool import LocalPool
from dataops.batch.spec import JobSpec, JobState, TaskSpec, TaskState
from tests.extract_worker.recordings import write_ros1
from tests.worker_command import worker_run

ROOT = Path(__file__).resolve().parents[2]


def _worker(kind: str, job_id: str, depends_on: list[str]) -> TaskSpec:
    return TaskSpec(
        task_id=kind,
        command=worker_run(
            kind,
            "{zone:raw}/drive.bag",
            "{zone:extracted}/drive",
            "--job-id",
            job_id,
            "--task-id",
            kind,
            "--no-limits",
        ),
        depends_on=depends_on,
        max_retries=1,
        # Tasks run in their own working directory: the repository must be importable.
        env={"PYTHONPATH": str(ROOT)},
    )


def _job(job_id: str) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        tasks=[_worker("validate", job_id, []), _worker("metadata", job_id, ["validate"])],
        labels={"measurement_id": "m-1", "datastream_id": "d-1"},
    )


def _pool(tmp_path: Path) -> tuple[LocalPool, Path, Path]:
    raw, extracted = tmp_path / "raw", tmp_path / "extracted"
    raw.mkdir()
    extracted.mkdir()
    pool = LocalPool(
        tmp_path / "pool.sqlite3",
        tmp_path / "work",
        max_parallel=2,
        zone_roots={"raw": str(raw), "extracted": str(extracted)},
        retry_delay_s=0,
        poll_interval_s=0.05,
    )
    return pool, raw, extracted


def test_worker_job_runs_and_commits(tmp_path: Path) -> None:
    pool, raw, extracted = _pool(tmp_path)
    write_ros1(raw / "drive.bag")
    try:
        pool.submit(_job("worker-ok"))
        status = pool.run_until_done("worker-ok", timeout_s=60)
    finally:
        pool.close()

    assert status.state is JobState.COMPLETED, status.tasks
    assert (extracted / "drive" / "validate" / "_SUCCESS").is_file()
    assert (extracted / "drive" / "metadata" / "_SUCCESS").is_file()
    log = status.tasks["validate"].log_location
    assert log is not None and '"job_id": "worker-ok"' in Path(log).read_text()


def test_truncated_bag_fails_with_bad_input_and_blocks_metadata(tmp_path: Path) -> None:
    pool, raw, extracted = _pool(tmp_path)
    whole = write_ros1(tmp_path / "whole.bag").read_bytes()
    (raw / "drive.bag").write_bytes(whole[: len(whole) // 2])
    try:
        pool.submit(_job("worker-bad"))
        status = pool.run_until_done("worker-bad", timeout_s=60)
    finally:
        pool.close()

    validate = status.tasks["validate"]
    assert status.state is JobState.FAILED
    assert (validate.state, validate.exit_code, validate.retries) == (TaskState.FAILED, 2, 0)
    assert status.tasks["metadata"].state is TaskState.BLOCKED
    assert not (extracted / "drive" / "metadata").exists()


def test_one_task_running_several_kinds_commits_each_and_logs_each(tmp_path: Path) -> None:
    """The plan's shape for a small recording: one task, each kind its own committed folder."""
    pool, raw, extracted = _pool(tmp_path)
    write_ros1(raw / "drive.bag")
    kinds = ["validate", "metadata", "gps"]
    command = worker_run(
        "validate", "{zone:raw}/drive.bag", "{zone:extracted}/drive", "--no-limits"
    )
    command[4:6] = [argument for kind in kinds for argument in ("--task", kind)]
    spec = JobSpec(
        job_id="worker-kinds",
        tasks=[TaskSpec(task_id="kinds", command=command, env={"PYTHONPATH": str(ROOT)})],
    )
    try:
        pool.submit(spec)
        status = pool.run_until_done("worker-kinds", timeout_s=120)
    finally:
        pool.close()

    assert status.state is JobState.COMPLETED, status.tasks
    assert sorted(p.name for p in (extracted / "drive").iterdir()) == sorted(kinds)
    for kind in kinds:
        assert (extracted / "drive" / kind / "_SUCCESS").is_file()
    log = status.tasks["kinds"].log_location
    assert log is not None
    text = Path(log).read_text()
    for kind in kinds:
        assert f'"message": "committed", "task": "{kind}"' in text
