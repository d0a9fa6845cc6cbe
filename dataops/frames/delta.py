"""Delta tables in a blob zone: written locally with deltalake, uploaded; read back the same way.

deltalake's Azure object store could talk to Azurite, but it needs the account key split out
of the connection string and ``AZURE_STORAGE_USE_EMULATOR`` quirks that differ from Azure; the
app's :class:`BlobZones` already speaks to both. So a table is written to a temporary
directory and uploaded with :meth:`BlobZones.upload_directory`, and read by downloading its
files into a local cache directory: one folder per table (``source.json`` in it says which),
holding one folder per version (keyed by the commit log's etags, so a cached copy is never
stale). An erasure drops every cached version of its tables (:func:`forget_cached_tables`).
A table is written once per datastream (overwritten whole on a retried activity, the commit
log names only the newest files) and read only after its datastream is COMPLETED.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake

from dataops.local_caches import CacheScope
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones

__all__ = [
    "DELTA_LOG",
    "ROW_GROUP_ROWS",
    "cache_key",
    "download_delta_table",
    "forget_cached_tables",
    "upload_delta_table",
]

DELTA_LOG = "_delta_log"
# A whole table is read into the cache; the caps keep one bad table from filling a disk.
_MAX_FILE_BYTES = 1 << 30
# Small row groups: their min/max let a search skip most of a table for a time window, and
# fetch a page's rows without decoding the whole file (bench/bench_frame_search.py).
ROW_GROUP_ROWS = 2048


def upload_delta_table(zones: BlobZones, zone: Zone, prefix: str, table: pa.Table) -> int:
    """Write ``table`` as a one-version Delta table at ``zone/prefix``; returns bytes uploaded."""
    with tempfile.TemporaryDirectory(prefix="avops-delta-") as scratch:
        local = Path(scratch) / "table"
        write_deltalake(
            str(local),
            table,
            mode="overwrite",
            writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_ROWS),
        )
        results = zones.upload_directory(zone, prefix, local, write_sha256=False)
    return sum(result.size for result in results)


_SOURCE = "source.json"


def _table_folder(cache_dir: Path, zone: Zone, prefix: str) -> Path:
    """The folder of every cached version of the table at ``zone/prefix``."""
    digest = hashlib.sha256(f"{zone.value}|{prefix.strip('/')}".encode()).hexdigest()[:32]
    return cache_dir / digest


def cache_key(zones: BlobZones, zone: Zone, prefix: str) -> str:
    """The folder name of the table's current version (its log blobs and their etags)."""
    log_blobs = sorted(
        zones.list_blobs(zone, join_path(prefix, DELTA_LOG)), key=lambda info: info.path
    )
    return hashlib.sha256(
        "|".join([zone.value, prefix, *(f"{b.path}@{b.etag}" for b in log_blobs)]).encode()
    ).hexdigest()[:32]


def _cached_source(folder: Path) -> tuple[str, str] | None:
    """(zone, prefix) a table folder copies; None when it does not say (unattributable)."""
    try:
        value = json.loads((folder / _SOURCE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict):
        return None
    zone, prefix = value.get("zone"), value.get("prefix")
    return (zone, prefix) if isinstance(zone, str) and isinstance(prefix, str) else None


def forget_cached_tables(cache_dir: Path, scope: CacheScope) -> int:
    """Delete every cached version of each table in ``scope``; how many tables went.

    Works from the cache alone (the tables' blobs may be gone already). A folder that does
    not say which table it holds (a copy from before tables said so, half-written) is
    deleted too: it cannot be shown not to hold the scope's rows, and it is only a cache.
    """
    if not cache_dir.is_dir():
        return 0
    dropped = 0
    # A name starting with "." is a table folder being made (``_new_table_folder``).
    folders = sorted(p for p in cache_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in folders:
        source = _cached_source(folder)
        if source is None or scope.covers_path(*source):
            shutil.rmtree(folder, ignore_errors=True)
            dropped += 1
    return dropped


def _new_table_folder(folder: Path, zone: Zone, prefix: str) -> None:
    """Make the table's folder with its ``source.json`` in one rename, so no folder is ever
    seen without it (an erasure deletes folders that do not say what they hold)."""
    staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}")
    staging.mkdir(parents=True)
    (staging / _SOURCE).write_text(json.dumps({"zone": zone.value, "prefix": prefix.strip("/")}))
    try:
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another thread or process made it first


def download_delta_table(zones: BlobZones, zone: Zone, prefix: str, cache_dir: Path) -> DeltaTable:
    """The Delta table at ``zone/prefix``, from ``cache_dir`` when its log is unchanged."""
    folder = _table_folder(cache_dir, zone, prefix)
    local = folder / cache_key(zones, zone, prefix)
    if not (local / DELTA_LOG).is_dir():
        if not (folder / _SOURCE).is_file():
            _new_table_folder(folder, zone, prefix)
        partial = local.with_name(f"{local.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        base = prefix.rstrip("/") + "/"
        for info in zones.list_blobs(zone, prefix):
            target = partial / info.path[len(base) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zones.read_bytes(zone, info.path, max_bytes=_MAX_FILE_BYTES).data)
        # Rename last: a crashed download never looks like a complete table.
        partial.rename(local)
    return DeltaTable(str(local))
