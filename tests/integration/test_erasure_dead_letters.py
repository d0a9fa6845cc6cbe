"""Erasure deletes the change-feed dead letters that name the target, and only those.

A dead letter (dataops.dead_letters) keeps the ids of a failed batch's documents in the error
zone, outside any measurement's folder; the erasure's blob step finds the ones naming the
erased measurement or its datastreams, the dry run lists them, and a letter of the other
vehicle stays byte-identical.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dataops.dead_letters.records import (
    dead_letter_record,
    letter_id,
    letter_path,
    record_dead_letter,
)
from dataops.erasure.blobs import list_target_blobs
from dataops.erasure.identity import ErasureTarget, TargetKind
from dataops.erasure.plan import plan_erasure
from dataops.erasure.steps import begin, erase_blob_step
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from tests.e2e.erasure_support import SALT
from tests.erasure_seed import SeededVehicle, seed_two_vehicles


def _letter(zones: BlobZones, seeded: SeededVehicle, reason: str) -> str:
    document = {
        "id": seeded.datastream_ids[0],
        "measurement_id": seeded.measurement_id,
        "type": "EXTRACTED",
        "state": "COMPLETED",
    }
    return record_dead_letter(
        zones, function="on_datastream_changed", documents=[document], reason=reason, attempts=9
    )


def test_erasure_deletes_the_dead_letters_naming_the_target(
    blob_zones: BlobZones, tmp_path: Path
) -> None:
    """The dry run lists the target's letters, pending and handed back; the blob step deletes
    them and counts them."""
    store = SqliteStore(tmp_path / "db" / "metadata.sqlite3")
    erased, kept = seed_two_vehicles(store, blob_zones)
    blob_zones.ensure_containers([Zone.ERROR])
    erased_letter = _letter(blob_zones, erased, "erased vehicle's batch")
    # A record handed back earlier (dataops.dead_letters.redrive) names the target too.
    older, older_record = dead_letter_record(
        function="on_datastream_changed",
        documents=[{"id": erased.datastream_ids[0], "measurement_id": erased.measurement_id}],
        reason="older batch",
        attempts=9,
        now=datetime(2026, 1, 2, tzinfo=UTC),
    )
    handed_back = letter_path(letter_id(older), redriven=True)
    blob_zones.write_json(Zone.ERROR, handed_back, older_record)
    kept_letter = _letter(blob_zones, kept, "kept vehicle's batch")
    kept_bytes = blob_zones.read_bytes(Zone.ERROR, kept_letter, max_bytes=1 << 20).data

    target = ErasureTarget(TargetKind.VEHICLE, erased.vehicle_id)
    listed = list_target_blobs(blob_zones, plan_erasure(store, target))
    assert erased_letter in listed["dead_letters"]
    assert handed_back in listed["dead_letters"]
    assert kept_letter not in listed["dead_letters"]

    settings = Settings(erasure_salt=SALT, sqlite_path=tmp_path / "db" / "metadata.sqlite3")
    record, _ = begin(blob_zones, store, settings, target, requested_by="test")
    counts = erase_blob_step(blob_zones, store, record.erasure_id)

    remaining = [info.path for info in blob_zones.list_blobs(Zone.ERROR, "_deadletters")]
    assert remaining == [kept_letter]
    assert blob_zones.read_bytes(Zone.ERROR, kept_letter, max_bytes=1 << 20).data == kept_bytes
    assert counts["dead_letters"] == 2
    store.close()
