"""SQLite persistence of orchestration instances, history, inbox and activity work."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from devhost.db import Database
from devhost.durable.state import EngineState

__all__ = [
    "TERMINAL",
    "DurableStore",
    "InboxMessage",
    "Instance",
    "RuntimeStatus",
    "WorkItem",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_status ON instances(status);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    msg_id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    kind TEXT NOT NULL,
    visible_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_visible ON inbox(visible_at);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id);
CREATE TABLE IF NOT EXISTS work (
    work_id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    runs INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS work_state ON work(state);
CREATE INDEX IF NOT EXISTS work_instance ON work(instance_id);
"""


# One statement per table that has rows of an instance: table names are never built from input.
_DELETE_ROWS_OF = {
    "history": "DELETE FROM history WHERE instance_id=?",
    "inbox": "DELETE FROM inbox WHERE instance_id=?",
    "work": "DELETE FROM work WHERE instance_id=?",
    "instances": "DELETE FROM instances WHERE instance_id=?",
}


def _delete_rows_of(conn: sqlite3.Connection, table: str, instance_id: str) -> int:
    """Delete the rows of ``instance_id`` from ``table``; returns how many."""
    return conn.execute(_DELETE_ROWS_OF[table], (instance_id,)).rowcount


class RuntimeStatus(StrEnum):
    """Orchestration runtime status, spelled as the DF HTTP API spells it."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"


TERMINAL = frozenset({RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED})


@dataclass
class Instance:
    """One orchestration instance row; ``state`` is the engine's own bookkeeping.

    ``engine_state`` may still be the stored JSON text: it holds every action and open task,
    so for a big fan-out it is the largest part of the row, and status queries never need it.
    It is parsed on the first use of :attr:`state`.
    """

    instance_id: str
    name: str
    execution_id: str
    status: RuntimeStatus
    input: str | None
    output: str | None
    custom_status: str | None
    error: str | None
    created_at: str
    updated_at: str
    parent_instance_id: str | None
    parent_execution_id: str | None
    parent_task_id: int | None
    engine_state: EngineState | str = field(repr=False)

    @property
    def state(self) -> EngineState:
        """The engine's bookkeeping, parsed on first use."""
        if isinstance(self.engine_state, str):
            self.engine_state = EngineState.from_json(json.loads(self.engine_state))
        return self.engine_state

    @state.setter
    def state(self, value: EngineState) -> None:
        self.engine_state = value

    def state_json(self) -> str:
        """The bookkeeping as stored: unchanged text when it was never parsed."""
        if isinstance(self.engine_state, str):
            return self.engine_state
        return json.dumps(self.engine_state.to_json())

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Instance:
        """Build from a ``SELECT *`` row."""
        data = dict(row)
        data["status"] = RuntimeStatus(data["status"])
        data["engine_state"] = data.pop("state")
        return cls(**data)


@dataclass(frozen=True)
class InboxMessage:
    """A message for an instance: start, history event, or terminate."""

    msg_id: int
    instance_id: str
    execution_id: str | None
    kind: str
    visible_at: float
    body: dict[str, Any]


@dataclass(frozen=True)
class WorkItem:
    """An activity invocation to run (at least once)."""

    work_id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    runs: int


class DurableStore:
    """Row-level operations; the engine composes them inside one transaction per step."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(SCHEMA)

    # instances -------------------------------------------------------------------------------
    def get_instance(self, conn: sqlite3.Connection, instance_id: str) -> Instance | None:
        """The instance or None."""
        row = conn.execute("SELECT * FROM instances WHERE instance_id=?", (instance_id,)).fetchone()
        return Instance.from_row(row) if row else None

    def execution_of(
        self, conn: sqlite3.Connection, instance_id: str
    ) -> tuple[str, RuntimeStatus] | None:
        """Execution id and status only: cheap next to :meth:`get_instance`, whose engine
        state grows with every open task of a fan-out."""
        row = conn.execute(
            "SELECT execution_id, status FROM instances WHERE instance_id=?", (instance_id,)
        ).fetchone()
        return None if row is None else (row[0], RuntimeStatus(row[1]))

    def put_instance(self, conn: sqlite3.Connection, inst: Instance) -> None:
        """Insert or replace the whole row."""
        conn.execute(
            "INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                inst.instance_id,
                inst.name,
                inst.execution_id,
                inst.status.value,
                inst.input,
                inst.output,
                inst.custom_status,
                inst.error,
                inst.created_at,
                inst.updated_at,
                inst.parent_instance_id,
                inst.parent_execution_id,
                inst.parent_task_id,
                inst.state_json(),
            ),
        )

    def delete_instance(self, conn: sqlite3.Connection, instance_id: str) -> int:
        """Remove the instance and everything that belongs to it; returns rows of instances."""
        for table in ("history", "inbox", "work"):
            _delete_rows_of(conn, table, instance_id)
        return _delete_rows_of(conn, "instances", instance_id)

    def query_instances(
        self,
        conn: sqlite3.Connection,
        *,
        statuses: list[str] | None = None,
        name: str | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Instance]:
        """Newest first, filtered; every value is bound as a parameter."""
        where: list[str] = []
        args: list[Any] = []
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if name:
            where.append("name LIKE ?")
            args.append(f"%{name}%")
        if created_from:
            where.append("created_at >= ?")
            args.append(created_from)
        if created_to:
            where.append("created_at <= ?")
            args.append(created_to)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = conn.execute(
            f"SELECT * FROM instances {clause} ORDER BY created_at DESC, instance_id "  # noqa: S608
            "LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [Instance.from_row(r) for r in rows]

    def children_of(self, conn: sqlite3.Connection, instance_id: str) -> list[Instance]:
        """Sub-orchestrations started by ``instance_id``."""
        rows = conn.execute(
            "SELECT * FROM instances WHERE parent_instance_id=? ORDER BY created_at", (instance_id,)
        ).fetchall()
        return [Instance.from_row(r) for r in rows]

    # history ---------------------------------------------------------------------------------
    def load_history(self, conn: sqlite3.Connection, instance_id: str) -> list[dict[str, Any]]:
        """All events of the current execution, in order."""
        rows = conn.execute(
            "SELECT event FROM history WHERE instance_id=? ORDER BY seq", (instance_id,)
        ).fetchall()
        return [json.loads(r["event"]) for r in rows]

    def history_length(self, conn: sqlite3.Connection, instance_id: str) -> int:
        """How many events the stored history has (sequence numbers run from 0)."""
        row = conn.execute(
            "SELECT MAX(seq) FROM history WHERE instance_id=?", (instance_id,)
        ).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def append_history(
        self,
        conn: sqlite3.Connection,
        instance_id: str,
        start_seq: int,
        events: list[dict[str, Any]],
    ) -> None:
        """Append events after ``start_seq`` existing ones."""
        conn.executemany(
            "INSERT INTO history VALUES (?,?,?)",
            [(instance_id, start_seq + i, json.dumps(e)) for i, e in enumerate(events)],
        )

    def clear_history(self, conn: sqlite3.Connection, instance_id: str) -> None:
        """Forget the history (continue_as_new, restart of a finished id)."""
        _delete_rows_of(conn, "history", instance_id)

    # inbox -----------------------------------------------------------------------------------
    def enqueue(  # noqa: PLR0917 - one argument per column
        self,
        conn: sqlite3.Connection,
        instance_id: str,
        execution_id: str | None,
        kind: str,
        body: dict[str, Any],
        visible_at: float,
    ) -> None:
        """Add a message that becomes visible at ``visible_at`` (epoch seconds)."""
        conn.execute(
            "INSERT INTO inbox (instance_id, execution_id, kind, visible_at, body) "
            "VALUES (?,?,?,?,?)",
            (instance_id, execution_id, kind, visible_at, json.dumps(body)),
        )

    def visible_messages(
        self, conn: sqlite3.Connection, instance_id: str, now: float
    ) -> list[InboxMessage]:
        """Messages of one instance that are visible now, oldest first."""
        rows = conn.execute(
            "SELECT * FROM inbox WHERE instance_id=? AND visible_at<=? ORDER BY msg_id",
            (instance_id, now),
        ).fetchall()
        return [
            InboxMessage(
                msg_id=r["msg_id"],
                instance_id=r["instance_id"],
                execution_id=r["execution_id"],
                kind=r["kind"],
                visible_at=r["visible_at"],
                body=json.loads(r["body"]),
            )
            for r in rows
        ]

    def visible_summary(
        self, conn: sqlite3.Connection, instance_id: str, now: float, event_types: tuple[int, ...]
    ) -> tuple[int, int, float | None]:
        """Visible messages of one instance: how many, how many are events of
        ``event_types``, and the oldest one's visible-at; no message body is parsed."""
        row = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(kind='event' AND json_extract(body, '$.EventType') "
            "IN (SELECT value FROM json_each(?))), 0), MIN(visible_at) "
            "FROM inbox WHERE instance_id=? AND visible_at<=?",
            (json.dumps(list(event_types)), instance_id, now),
        ).fetchone()
        return int(row[0]), int(row[1]), None if row[2] is None else float(row[2])

    def ready_instances(self, conn: sqlite3.Connection, now: float) -> list[str]:
        """Instances with at least one visible message, in order of their oldest message."""
        rows = conn.execute(
            "SELECT instance_id, MIN(msg_id) AS first FROM inbox WHERE visible_at<=? "
            "GROUP BY instance_id ORDER BY first",
            (now,),
        ).fetchall()
        return [r["instance_id"] for r in rows]

    def next_visible_at(self, conn: sqlite3.Connection) -> float | None:
        """Earliest visible-at time of any message (timers), or None."""
        row = conn.execute("SELECT MIN(visible_at) AS t FROM inbox").fetchone()
        return None if row is None or row["t"] is None else float(row["t"])

    def delete_messages(self, conn: sqlite3.Connection, msg_ids: list[int]) -> None:
        """Remove consumed messages."""
        conn.executemany("DELETE FROM inbox WHERE msg_id=?", [(m,) for m in msg_ids])

    def delete_inbox_of(self, conn: sqlite3.Connection, instance_id: str) -> None:
        """Drop every pending message of an instance."""
        _delete_rows_of(conn, "inbox", instance_id)

    # work ------------------------------------------------------------------------------------
    def add_work(  # noqa: PLR0917 - one argument per column
        self,
        conn: sqlite3.Connection,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input_json: str | None,
    ) -> None:
        """Queue one activity invocation."""
        conn.execute(
            "INSERT INTO work (instance_id, execution_id, task_id, name, input) VALUES (?,?,?,?,?)",
            (instance_id, execution_id, task_id, name, input_json),
        )

    def claim_work(self, conn: sqlite3.Connection, limit: int) -> list[WorkItem]:
        """Mark up to ``limit`` pending items running and return them."""
        rows = conn.execute(
            "SELECT * FROM work WHERE state='pending' ORDER BY work_id LIMIT ?", (limit,)
        ).fetchall()
        conn.executemany(
            "UPDATE work SET state='running', runs=runs+1 WHERE work_id=?",
            [(r["work_id"],) for r in rows],
        )
        return [
            WorkItem(
                work_id=r["work_id"],
                instance_id=r["instance_id"],
                execution_id=r["execution_id"],
                task_id=r["task_id"],
                name=r["name"],
                input=r["input"],
                runs=r["runs"] + 1,
            )
            for r in rows
        ]

    def release_work(self, conn: sqlite3.Connection, work_id: int) -> None:
        """Put a running item back in the queue."""
        conn.execute("UPDATE work SET state='pending' WHERE work_id=?", (work_id,))

    def take_work(self, conn: sqlite3.Connection, work_id: int) -> bool:
        """Delete a finished item; False when it is gone (purged, terminated, duplicate)."""
        return conn.execute("DELETE FROM work WHERE work_id=?", (work_id,)).rowcount == 1

    def delete_work_of(self, conn: sqlite3.Connection, instance_id: str) -> None:
        """Drop queued and running items of an instance (terminate, continue_as_new)."""
        _delete_rows_of(conn, "work", instance_id)

    def requeue_running(self, conn: sqlite3.Connection) -> list[WorkItem]:
        """At start-up: items that were in flight when the host stopped run again."""
        rows = conn.execute("SELECT * FROM work WHERE state='running'").fetchall()
        conn.execute("UPDATE work SET state='pending' WHERE state='running'")
        return [
            WorkItem(
                work_id=r["work_id"],
                instance_id=r["instance_id"],
                execution_id=r["execution_id"],
                task_id=r["task_id"],
                name=r["name"],
                input=r["input"],
                runs=r["runs"],
            )
            for r in rows
        ]

    def count_work_of(self, conn: sqlite3.Connection, instance_id: str) -> int:
        """Queued or running items of one instance."""
        row = conn.execute(
            "SELECT COUNT(*) FROM work WHERE instance_id=?", (instance_id,)
        ).fetchone()
        return int(row[0])

    def count_work(self, conn: sqlite3.Connection, state: str | None = None) -> int:
        """Queued or running items."""
        if state is None:
            return int(conn.execute("SELECT COUNT(*) FROM work").fetchone()[0])
        return int(conn.execute("SELECT COUNT(*) FROM work WHERE state=?", (state,)).fetchone()[0])
