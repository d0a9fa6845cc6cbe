"""Schema and connection setup of the sqlite metadata store.

Documents are stored as JSON text; the fields that queries filter or sort on are copied into
indexed columns. ``changes`` is the change log: one row per document, moved to a new sequence
number on every write, so a reader sees the latest version only (like the Cosmos change feed).
"""

from __future__ import annotations

import sqlite3

from dataops.errors import TerminalError
from dataops.sqlite_db import apply_versioned_schema

__all__ = ["SCHEMA", "SCHEMA_VERSION", "ensure_schema"]

SCHEMA_VERSION = 1

# The version row lives in the table store_meta (dataops.sqlite_db.apply_versioned_schema).
SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    id TEXT PRIMARY KEY,
    vehicle_id TEXT NOT NULL,
    start_key TEXT NOT NULL,
    end_key TEXT NOT NULL,
    state TEXT NOT NULL,
    etag TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurements_by_start ON measurements (start_key DESC, id DESC);
CREATE INDEX IF NOT EXISTS measurements_by_vehicle
    ON measurements (vehicle_id, start_key DESC, id DESC);
CREATE INDEX IF NOT EXISTS measurements_by_state ON measurements (state, start_key DESC, id DESC);
CREATE TABLE IF NOT EXISTS measurement_tags (
    tag TEXT NOT NULL,
    measurement_id TEXT NOT NULL REFERENCES measurements (id),
    PRIMARY KEY (tag, measurement_id)
);
CREATE TABLE IF NOT EXISTS datastreams (
    id TEXT PRIMARY KEY,
    measurement_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    created_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS datastreams_by_measurement
    ON datastreams (measurement_id, created_key, id);
CREATE TABLE IF NOT EXISTS datastream_sources (
    datastream_id TEXT NOT NULL REFERENCES datastreams (id),
    source_id TEXT NOT NULL,
    PRIMARY KEY (datastream_id, source_id)
);
CREATE INDEX IF NOT EXISTS datastream_sources_by_source
    ON datastream_sources (source_id, datastream_id);
CREATE TABLE IF NOT EXISTS files (
    datastream_id TEXT NOT NULL REFERENCES datastreams (id),
    path TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (datastream_id, path)
);
-- A measurement's manifest files, apart from its document (which keeps only their count).
CREATE TABLE IF NOT EXISTS measurement_files (
    measurement_id TEXT NOT NULL REFERENCES measurements (id),
    path TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (measurement_id, path)
);
CREATE TABLE IF NOT EXISTS scenes (
    id TEXT PRIMARY KEY,
    measurement_id TEXT NOT NULL,
    datastream_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    type TEXT NOT NULL,
    start_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scenes_by_start ON scenes (start_key, id);
CREATE INDEX IF NOT EXISTS scenes_by_type ON scenes (type, start_key, id);
CREATE INDEX IF NOT EXISTS scenes_by_measurement ON scenes (measurement_id, start_key, id);
CREATE INDEX IF NOT EXISTS scenes_by_vehicle ON scenes (vehicle_id, start_key, id);
CREATE TABLE IF NOT EXISTS changes (
    -- AUTOINCREMENT: a sequence number is never reused, even after the newest row moves.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    container TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    UNIQUE (container, doc_id)
);
CREATE INDEX IF NOT EXISTS changes_by_container ON changes (container, seq);
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create missing tables and indexes (idempotent; safe when several processes race)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = apply_versioned_schema(conn, SCHEMA, meta_table="store_meta", version=SCHEMA_VERSION)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if row is None or row[0] != str(SCHEMA_VERSION):
        raise TerminalError(f"metadata database has schema {row}, this code needs {SCHEMA_VERSION}")
