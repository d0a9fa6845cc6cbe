"""A pool killed with SIGKILL mid-job: the next pool finishes the job, nothing runs twice
that had finished, nothing is committed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dataops.batch.processes import process_start
from dataops.batch.spec import JobState, TaskState
from tests.batch.conftest import Tasks, job, make_pool

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(condition: Callable[[], object], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_killed_pool_restarts_without_losing_or_duplicating_tasks(
    tmp_path: Path, tasks: Tasks
) -> None:
    client = make_pool(tmp_path)  # submits and reads status; never schedules
    spec = job(
        "crash",
        tasks.spec("a"),
        # First run: long enough to be killed in the middle; the rerun is quick.
        tasks.spec("b", sleep="60,0.1", depends_on=("a",)),
        tasks.spec("c", depends_on=("b",)),
        tasks.spec("side", sleep="0"),
    )
    client.submit(spec)
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.batch.pool_process",
            str(tmp_path / "pool.sqlite3"),
            str(tmp_path / "work"),
            "2",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        # The kill lands while b runs and after side's end is on record. A task that exits in
        # the moment between the scheduler's last look and its death is run again on restart
        # (at least once: the worker then finds its output committed and exits 0); that window
        # is not what this test is about.
        _wait_for(
            lambda: (
                client.status("crash").tasks["b"].state is TaskState.RUNNING
                and client.status("crash").tasks["side"].state is TaskState.SUCCEEDED
                and tasks.pids("b")
            ),
            "task b to run and side to be recorded done",
        )
        # A live scheduler in another process keeps its tasks: nothing to recover yet.
        assert client.recover() == 0
    finally:
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait()
    (orphan,) = tasks.pids("b")
    assert process_start(orphan) is not None, "the task outlives its killed scheduler"
    assert tasks.commits() in (["a", "side"], ["side", "a"])
    client.close()

    restarted = make_pool(tmp_path)
    try:
        status = restarted.run_until_done("crash", timeout_s=30)
    finally:
        restarted.close()

    assert status.state is JobState.COMPLETED
    assert process_start(orphan) is None, "the orphaned attempt was killed before the rerun"
    assert (tasks.runs("a"), tasks.runs("b"), tasks.runs("c"), tasks.runs("side")) == (1, 2, 1, 1)
    assert sorted(tasks.commits()) == ["a", "b", "c", "side"]
    b = status.tasks["b"]
    assert b.retries == 0, "an interrupted attempt is not a failed one"
    assert b.log_location is not None
    assert "interrupted: its scheduler is gone" in Path(b.log_location).read_text()
