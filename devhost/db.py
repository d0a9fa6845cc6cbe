"""One SQLite database per devhost state directory, shared by the engine and the event sources."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Database"]


class Database:
    """A SQLite connection guarded by a lock; every write is one transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared across threads under a re-entrant lock: the engine, the HTTP
        # handlers and the pollers all run on the host's event loop or briefly in its executor.
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL survives a crash of the host process (the crash/resume guarantee);
        # only an OS crash or power loss can drop the last commits, an accepted local trade-off.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows are zeroed, not left in free pages: a purge (an erasure) must not leave
        # an instance's inputs and outputs readable in the file.
        self._conn.execute("PRAGMA secure_delete=ON")
        self._lock = threading.RLock()
        self._depth = 0

    def executescript(self, script: str) -> None:
        """Run DDL (idempotent CREATE ... IF NOT EXISTS statements)."""
        with self._lock:
            self._conn.executescript(script)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested use joins the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Connection for reads, under the lock."""
        with self._lock:
            yield self._conn

    def scrub(self) -> bool:
        """Rebuild the file and empty the WAL; False when a reader kept the WAL from emptying.

        Rows deleted before ``secure_delete`` was on (older hosts) and old WAL frames still
        hold deleted bytes: VACUUM writes a fresh copy, the TRUNCATE checkpoint cuts the WAL.
        """
        with self._lock:
            if self.path is None:
                return True
            self._conn.execute("VACUUM")
            busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
