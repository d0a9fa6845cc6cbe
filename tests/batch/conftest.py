"""Fixtures of the batch backend tests: a local pool on tmp_path and a scripted task program."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dataops.batch.local_pool import LocalPool
from dataops.batch.spec import JobSpec, TaskSpec

PROGRAM = Path(__file__).with_name("task_program.py")


@dataclass
class Tasks:
    """Builds TaskSpecs that run task_program.py and reads back what the runs recorded."""

    dir: Path

    def spec(
        self,
        task_id: str,
        *,
        codes: str = "0",
        sleep: float | str = 0.0,
        depends_on: tuple[str, ...] = (),
        max_retries: int = 2,
        say: str = "",
        **extra: object,
    ) -> TaskSpec:
        command = [sys.executable, str(PROGRAM), "--name", task_id, "--dir", str(self.dir)]
        command += ["--codes", codes, "--sleep", str(sleep)]
        if say:
            command += ["--say", say]
        return TaskSpec.model_validate(
            {
                "task_id": task_id,
                "command": command,
                "depends_on": list(depends_on),
                "max_retries": max_retries,
                **extra,
            }
        )

    def runs(self, task_id: str) -> int:
        path = self.dir / f"{task_id}.runs"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def pids(self, task_id: str) -> list[int]:
        path = self.dir / f"{task_id}.runs"
        return [int(line) for line in path.read_text().splitlines()] if path.exists() else []

    def commits(self) -> list[str]:
        path = self.dir / "commits"
        return path.read_text().splitlines() if path.exists() else []

    def intervals(self) -> dict[str, list[tuple[float, float]]]:
        """Start and end time of each finished run, per task."""
        starts: dict[str, list[float]] = {}
        found: dict[str, list[tuple[float, float]]] = {}
        for line in (self.dir / "events").read_text().splitlines():
            kind, name, stamp = line.split()
            if kind == "start":
                starts.setdefault(name, []).append(float(stamp))
            else:
                found.setdefault(name, []).append((starts[name].pop(0), float(stamp)))
        return found


@pytest.fixture
def tasks(tmp_path: Path) -> Tasks:
    """Task builder writing its records under tmp_path/records."""
    records = tmp_path / "records"
    records.mkdir()
    return Tasks(records)


def make_pool(tmp_path: Path, **options: Any) -> LocalPool:
    """A pool on tmp_path with test timings (no retry delay, fast polling)."""
    settings: dict[str, Any] = {
        "max_parallel": 4,
        "retry_delay_s": 0.0,
        "poll_interval_s": 0.02,
        "heartbeat_s": 0.2,
        "kill_grace_s": 2.0,
        **options,
    }
    return LocalPool(tmp_path / "pool.sqlite3", tmp_path / "work", **settings)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[LocalPool]:
    """A local pool, closed after the test."""
    backend = make_pool(tmp_path)
    yield backend
    backend.close()


def job(job_id: str, *tasks: TaskSpec) -> JobSpec:
    """A JobSpec of these tasks."""
    return JobSpec(job_id=job_id, tasks=list(tasks))
