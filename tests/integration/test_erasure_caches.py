"""Erasure empties every local cache of the process of the target, and only of the target.

The frame search's table copies (``IndexTables``), the explorer's (``DriveReader``, its parsed
tables and thumbnails) and a registered cache directory no object of this process uses (what
a previous process left) are all filled with both vehicles' tables; after the erasure's blob
step no file under any of the folders names the erased vehicle (nor, after the store step,
a copy a search made meanwhile), and the kept vehicle's cached tables are still there and
still served without a download.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops.erasure.identity import ErasureTarget, TargetKind
from dataops.erasure.records import read_record
from dataops.erasure.steps import begin, erase_blob_step, erase_store_step
from dataops.explorer.drive import DriveReader
from dataops.frames.delta import download_delta_table
from dataops.frames.tables import SCENES_TABLE_STAT, IndexTables
from dataops.local_caches import register_cache_dir
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from tests.e2e.erasure_support import SALT, files_mentioning
from tests.erasure_seed import SeededVehicle, seed_two_vehicles


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "db" / "metadata.sqlite3")
    try:
        yield opened
    finally:
        opened.close()


def _scenes_table(store: SqliteStore, seeded: SeededVehicle) -> str:
    (scenes,) = [d for d in store.list_datastreams(seeded.measurement_id) if d.stats]
    return str(scenes.stats[SCENES_TABLE_STAT])


def test_erasure_drops_the_target_from_every_registered_cache_and_keeps_the_rest(
    blob_zones: BlobZones, store: SqliteStore, tmp_path: Path
) -> None:
    """After erase_blobs, no cache folder of the process holds a file naming the erased
    vehicle (its tables, every version, and unattributable leftovers go); the kept vehicle's
    copies, parsed tables and thumbnails stay."""
    erased, kept = seed_two_vehicles(store, blob_zones)
    frames_dir, explorer_dir = tmp_path / "frame-index", tmp_path / "explorer-tables"
    orphan_dir = register_cache_dir(tmp_path / "left-by-another-process")
    tables = IndexTables(blob_zones, frames_dir)
    drives = DriveReader(blob_zones, explorer_dir)
    for seeded in (erased, kept):
        (scenes,) = [d for d in store.list_datastreams(seeded.measurement_id) if d.stats]
        assert tables.files(scenes, SCENES_TABLE_STAT, "start_ns")
        for folder in (explorer_dir, orphan_dir):
            download_delta_table(blob_zones, Zone.CURATED, _scenes_table(store, seeded), folder)
        drives.thumbnails.get((seeded.measurement_id, "0", "64"), lambda: b"jpeg bytes")
    # A copy made by a search that ran while the blobs were being deleted (it shows up in a
    # registered folder only after the blob step): the store step drops it.
    late_dir = tmp_path / "copied-during-the-erasure"
    download_delta_table(blob_zones, Zone.CURATED, _scenes_table(store, erased), late_dir)
    (orphan_dir / "from-an-older-layout").mkdir()
    (orphan_dir / "from-an-older-layout" / "part.parquet").write_bytes(b"rows")
    folders = [frames_dir, explorer_dir, orphan_dir]
    for seeded in (erased, kept):
        assert files_mentioning(folders, [seeded.vehicle_id]), "each cache names both vehicles"

    settings = Settings(erasure_salt=SALT, sqlite_path=tmp_path / "db" / "metadata.sqlite3")
    target = ErasureTarget(TargetKind.VEHICLE, erased.vehicle_id)
    record, _ = begin(blob_zones, store, settings, target, requested_by="test")
    counts = erase_blob_step(blob_zones, store, record.erasure_id)

    assert files_mentioning(folders, erased.tokens) == []
    assert not (orphan_dir / "from-an-older-layout").exists()
    for folder in folders:
        assert files_mentioning([folder], [kept.vehicle_id]), folder
    # Memory: the erased measurement's thumbnail is gone, the kept one is served as cached.
    assert drives.thumbnails.get((erased.measurement_id, "0", "64"), lambda: b"new") == b"new"
    assert drives.thumbnails.get((kept.measurement_id, "0", "64"), lambda: b"new") == b"jpeg bytes"
    # Two scenes tables per folder for the erased vehicle plus the thumbnail, at least.
    assert counts["table_cache"] >= 4
    stored = read_record(blob_zones, record.erasure_id)
    assert stored is not None and stored.counts["table_cache"] == counts["table_cache"]
    register_cache_dir(late_dir)
    assert files_mentioning([late_dir], [erased.vehicle_id])
    # The late copy, and the erased measurement's thumbnail the check above made again.
    assert erase_store_step(blob_zones, store, record.erasure_id)["table_cache"] == 2
    assert files_mentioning([late_dir], erased.tokens) == []
    # The kept vehicle's table is still served from its remembered local copy.
    (kept_scenes,) = [d for d in store.list_datastreams(kept.measurement_id) if d.stats]
    (first, *_) = tables.files(kept_scenes, SCENES_TABLE_STAT, "start_ns")
    assert Path(first.path).is_relative_to(frames_dir)
