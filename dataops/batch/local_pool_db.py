"""The local pool's state: jobs, tasks and scheduler owners in one SQLite file (WAL).

Every state change is one ``BEGIN IMMEDIATE`` transaction, which takes the write lock before
the read it depends on. That is what makes a claim atomic: two pools on one database (two
threads or two processes) can never both move the same task from PENDING to RUNNING.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataops.batch.spec import TaskSpec, TaskState
from dataops.errors import TerminalError
from dataops.sqlite_db import ThreadConnections, apply_versioned_schema

__all__ = ["SCHEMA_VERSION", "OwnerRow", "PoolDb", "TaskRow"]

SCHEMA_VERSION = 1

# The version row lives in the table pool_meta (dataops.sqlite_db.apply_versioned_schema).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    canceled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    job_id TEXT NOT NULL REFERENCES jobs (job_id),
    task_id TEXT NOT NULL,
    -- position in dependency order: older jobs first, then parents before children
    seq INTEGER NOT NULL,
    -- the TaskSpec with zone placeholders resolved, as launched
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    reason TEXT,
    log_path TEXT NOT NULL,
    owner TEXT,
    pid INTEGER,
    proc_start TEXT,
    not_before REAL NOT NULL DEFAULT 0,
    started_at REAL,
    ended_at REAL,
    PRIMARY KEY (job_id, task_id)
);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, job_id, seq);
CREATE TABLE IF NOT EXISTS owners (
    owner_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    proc_start TEXT,
    heartbeat REAL NOT NULL
);
"""

_TASK_COLUMNS = (
    "job_id, task_id, seq, task, state, attempts, exit_code, reason, log_path, owner, pid, "
    "proc_start, not_before, started_at, ended_at"
)


@dataclass(frozen=True)
class TaskRow:
    """One row of ``tasks``."""

    job_id: str
    task_id: str
    seq: int
    task: TaskSpec
    state: TaskState
    attempts: int
    exit_code: int | None
    reason: str | None
    log_path: str
    owner: str | None
    pid: int | None
    proc_start: str | None
    not_before: float
    started_at: float | None
    ended_at: float | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> TaskRow:
        """Build from a SELECT of ``_TASK_COLUMNS``."""
        return cls(
            job_id=row[0],
            task_id=row[1],
            seq=row[2],
            task=TaskSpec.model_validate_json(row[3]),
            state=TaskState(row[4]),
            attempts=row[5],
            exit_code=row[6],
            reason=row[7],
            log_path=row[8],
            owner=row[9],
            pid=row[10],
            proc_start=row[11],
            not_before=row[12],
            started_at=row[13],
            ended_at=row[14],
        )


@dataclass(frozen=True)
class OwnerRow:
    """A scheduler instance that may hold RUNNING tasks."""

    owner_id: str
    host: str
    pid: int
    proc_start: str | None
    heartbeat: float


class PoolDb:
    """Connections (one per thread) and transactions on the pool database."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = ThreadConnections(
            self.path, busy_timeout_ms=busy_timeout_ms, what="batch pool database"
        )
        with self.write() as conn:
            row = apply_versioned_schema(
                conn, _SCHEMA, meta_table="pool_meta", version=SCHEMA_VERSION
            )
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise TerminalError(f"batch pool database {self.path} has schema {row}")

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error)."""
        return self._db.write()

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: several SELECTs see one snapshot."""
        return self._db.read()

    def scrub(self) -> None:
        """Leave no deleted rows' bytes in the file (erasure; see ``ThreadConnections.scrub``)."""
        self._db.scrub()

    def close(self) -> None:
        """Close every connection opened (in any thread)."""
        self._db.close()

    # queries shared by the pool -------------------------------------------------------------

    @staticmethod
    def tasks_of(conn: sqlite3.Connection, job_id: str) -> list[TaskRow]:
        """Every task of a job in dependency order."""
        rows = conn.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE job_id = ? ORDER BY seq",  # noqa: S608  # constant column list
            (job_id,),
        ).fetchall()
        return [TaskRow.from_row(row) for row in rows]

    @staticmethod
    def tasks_in_state(
        conn: sqlite3.Connection, state: TaskState, *, owner: str | None = None
    ) -> list[TaskRow]:
        """Tasks in one state (optionally of one owner), oldest job first."""
        sql = (
            f"SELECT {_TASK_COLUMNS} FROM tasks AS t WHERE state = ? "  # noqa: S608  # constant column list
            "ORDER BY (SELECT created_at FROM jobs AS j WHERE j.job_id = t.job_id), job_id, seq"
        )
        rows = conn.execute(sql, (state.value,)).fetchall()
        tasks = [TaskRow.from_row(row) for row in rows]
        if owner is not None:
            tasks = [task for task in tasks if task.owner == owner]
        return tasks

    @staticmethod
    def owners(conn: sqlite3.Connection) -> dict[str, OwnerRow]:
        """Every registered scheduler instance."""
        rows = conn.execute(
            "SELECT owner_id, host, pid, proc_start, heartbeat FROM owners"
        ).fetchall()
        return {row[0]: OwnerRow(*row) for row in rows}

    @staticmethod
    def canceled_jobs(conn: sqlite3.Connection) -> set[str]:
        """Ids of jobs that were canceled."""
        return {row[0] for row in conn.execute("SELECT job_id FROM jobs WHERE canceled = 1")}


def dump_task(task: TaskSpec) -> str:
    """Canonical JSON of a task spec (what is stored and compared)."""
    return json.dumps(task.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
