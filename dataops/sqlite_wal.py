"""Applying a SQLite write-ahead log to its database (ROS 2 bags in sqlite3 storage).

A recorder killed before a checkpoint leaves messages in ``bag.db3-wal``; rosbags opens the
storage ``immutable=1``, which ignores the log. Checkpointing writes the database, so callers
apply it to a private copy, never to a recording as uploaded.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["checkpoint_wal"]


def checkpoint_wal(db: Path) -> None:
    """Move everything in ``<db>-wal`` into ``db`` and leave it in rollback-journal mode."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()
    finally:
        conn.close()
