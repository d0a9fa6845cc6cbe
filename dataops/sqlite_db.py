"""SQLite files shared by several threads and processes: the metadata store and the batch pool.

One connection per thread (sqlite connections are not meant to be shared, and a connection per
writer is what makes ``BEGIN IMMEDIATE`` serialize writers across processes), WAL mode, and a
lock still held after the busy timeout reported as retryable.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dataops.errors import RetryableError, TerminalError

__all__ = ["ThreadConnections", "apply_versioned_schema", "busy_is_retryable", "connect"]


def apply_versioned_schema(
    conn: sqlite3.Connection, schema: str, *, meta_table: str, version: int
) -> tuple[str] | None:
    """Create ``meta_table`` and ``schema``'s tables and indexes (idempotent), record
    ``version`` unless a version is recorded already, and return the recorded row.

    Run it inside one write transaction: processes that race to create the database then
    agree on one version, and the caller compares the row with the version it needs.
    """
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {meta_table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
    )
    for statement in schema.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        f"INSERT INTO {meta_table} (key, value) VALUES ('schema_version', ?) "  # noqa: S608  # our own table name
        "ON CONFLICT (key) DO NOTHING",
        (str(version),),
    )
    row: tuple[str] | None = conn.execute(
        f"SELECT value FROM {meta_table} WHERE key = 'schema_version'"  # noqa: S608  # our own table name
    ).fetchone()
    return row


def connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open a connection in autocommit mode; callers issue BEGIN IMMEDIATE themselves."""
    conn = sqlite3.connect(
        path,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        # Each connection is used by one thread; close() may run on another at shutdown.
        check_same_thread=False,
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose
    # the last commits, which the at-least-once pipeline re-does.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def busy_is_retryable(what: str) -> Iterator[None]:
    """A lock still held after busy_timeout is transient; every other sqlite error is a bug."""
    try:
        yield
    except sqlite3.OperationalError as err:
        if err.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise RetryableError(f"{what} busy: {err}") from err
        raise


class ThreadConnections:
    """Connections to one database file, one per thread, and the transactions on them."""

    def __init__(self, path: Path, *, busy_timeout_ms: int, what: str) -> None:
        self.path = path
        self.what = what
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise TerminalError(f"{self.what} is closed")
                with busy_is_retryable(self.what):
                    conn = connect(self.path, self._busy_timeout_ms)
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error)."""
        conn = self.conn()
        with busy_is_retryable(self.what):
            conn.execute("BEGIN IMMEDIATE")
        try:
            with busy_is_retryable(self.what):
                yield conn
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one snapshot."""
        conn = self.conn()
        with busy_is_retryable(self.what):
            conn.execute("BEGIN")
        try:
            with busy_is_retryable(self.what):
                yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def scrub(self) -> None:
        """Leave no deleted bytes in the files: rebuild the database, empty the WAL.

        A DELETE only unlinks cells; their bytes stay in free pages and in WAL frames until
        overwritten. VACUUM writes a fresh copy of the live rows (through the WAL), and a
        TRUNCATE checkpoint copies it into the main file and cuts the WAL to zero bytes. The
        checkpoint cannot finish while another connection reads an old snapshot: that is a
        RetryableError, so an erasure step retries it rather than claiming success.
        """
        conn = self.conn()
        with busy_is_retryable(self.what):
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("VACUUM")
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise RetryableError(f"{self.what}: WAL still in use by a reader, not truncated")

    def close(self) -> None:
        """Close every connection opened (in any thread)."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
