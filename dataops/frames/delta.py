"""Delta tables in a blob zone: written locally with deltalake, uploaded; read back the same way.

deltalake's Azure object store could talk to Azurite, but it needs the account key split out
of the connection string and ``AZURE_STORAGE_USE_EMULATOR`` quirks that differ from Azure; the
app's :class:`BlobZones` already speaks to both. So a table is written to a temporary
directory and uploaded with :meth:`BlobZones.upload_directory`, and read by downloading its
files into a local cache directory (keyed by the commit log's etag, so a cached copy is never
stale). A table is written once per datastream (overwritten whole on a retried activity, the
commit log names only the newest files) and read only after its datastream is COMPLETED.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake

from dataops.paths import Zone, join_path
from dataops.storage import BlobZones

__all__ = [
    "DELTA_LOG",
    "ROW_GROUP_ROWS",
    "cache_key",
    "download_delta_table",
    "drop_cached_table",
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


def cache_key(zones: BlobZones, zone: Zone, prefix: str) -> str:
    """The cache folder name of the table's current version (its log blobs and their etags)."""
    log_blobs = sorted(
        zones.list_blobs(zone, join_path(prefix, DELTA_LOG)), key=lambda info: info.path
    )
    return hashlib.sha256(
        "|".join([zone.value, prefix, *(f"{b.path}@{b.etag}" for b in log_blobs)]).encode()
    ).hexdigest()[:32]


def drop_cached_table(zones: BlobZones, zone: Zone, prefix: str, cache_dir: Path) -> bool:
    """Delete the local copy of the table's current version; True when there was one."""
    local = cache_dir / cache_key(zones, zone, prefix)
    found = local.exists()
    shutil.rmtree(local, ignore_errors=True)
    return found


def download_delta_table(zones: BlobZones, zone: Zone, prefix: str, cache_dir: Path) -> DeltaTable:
    """The Delta table at ``zone/prefix``, from ``cache_dir`` when its log is unchanged."""
    key = cache_key(zones, zone, prefix)
    local = cache_dir / key
    if not (local / DELTA_LOG).is_dir():
        partial = cache_dir / f"{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        base = prefix.rstrip("/") + "/"
        for info in zones.list_blobs(zone, prefix):
            target = partial / info.path[len(base) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zones.read_bytes(zone, info.path, max_bytes=_MAX_FILE_BYTES).data)
        # Rename last: a crashed download never looks like a complete table.
        partial.rename(local)
    return DeltaTable(str(local))
