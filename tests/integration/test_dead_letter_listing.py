"""The dead letters of the error zone, listed newest first in keyset pages, on Azurite.

Records are written by the consumer's own writer (``record_dead_letter``) at chosen times; the
listing filters by function and measurement, keeps handed-back records apart and lists a
damaged record with its error rather than hiding the others.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dataops.dead_letters.listing import list_dead_letters
from dataops.dead_letters.models import DeadLetter
from dataops.dead_letters.records import DEAD_LETTER_PREFIX, letter_id, record_dead_letter
from dataops.errors import InvalidInputError
from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones
from devhost.services.azurite import AzuriteBlob

pytestmark = pytest.mark.azurite
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _letter(zones: BlobZones, minute: int, measurement: str, function: str = "on_changed") -> str:
    document = {
        "id": f"ds-{minute}",
        "measurement_id": measurement,
        "type": "EXTRACTED",
        "state": "COMPLETED",
        "_etag": f'"e{minute}"',
        "_lsn": minute,
    }
    path = record_dead_letter(
        zones,
        function=function,
        documents=[document],
        reason=f"RuntimeError: batch {minute}",
        attempts=9,
        now=T0 + timedelta(minutes=minute),
    )
    return letter_id(path)


def _every_page(zones: BlobZones, limit: int, **filters: str) -> list[list[DeadLetter]]:
    pages: list[list[DeadLetter]] = []
    token: str | None = None
    for _ in range(20):
        page = list_dead_letters(zones, limit=limit, continuation=token, **filters)
        pages.append(page.items)
        token = page.continuation
        if token is None:
            return pages
    raise AssertionError("paging did not end")


def test_pages_are_newest_first_and_filters_narrow_them(blob_zones: BlobZones) -> None:
    """Five records in pages of two, newest first; by function; by measurement."""
    ids = [_letter(blob_zones, minute, "m-a" if minute % 2 else "m-b") for minute in range(4)]
    other = _letter(blob_zones, 10, "m-a", function="on_other")

    pages = _every_page(blob_zones, 2)

    assert [[item.id for item in page] for page in pages] == [
        [other, ids[3]],
        [ids[2], ids[1]],
        [ids[0]],
    ]
    newest = pages[0][1]
    assert (newest.function, newest.attempts, newest.reason) == (
        "on_changed",
        9,
        "RuntimeError: batch 3",
    )
    assert newest.time == T0 + timedelta(minutes=3)
    (document,) = newest.documents
    assert (document.id, document.measurement_id, document.etag, document.lsn) == (
        "ds-3",
        "m-a",
        '"e3"',
        "3",
    )
    assert newest.model_dump(mode="json")["documents"][0]["_etag"] == '"e3"'
    by_function = [i.id for page in _every_page(blob_zones, 10, function="on_other") for i in page]
    assert by_function == [other]
    by_measurement = [i.id for page in _every_page(blob_zones, 1, measurement="m-b") for i in page]
    assert by_measurement == [ids[2], ids[0]]


def test_a_token_of_other_filters_is_refused(blob_zones: BlobZones) -> None:
    """A continuation only pages on the listing and filters it was issued for."""
    for minute in range(3):
        _letter(blob_zones, minute, "m-a")
    token = list_dead_letters(blob_zones, limit=1).continuation
    assert token is not None
    with pytest.raises(InvalidInputError, match="continuation"):
        list_dead_letters(blob_zones, limit=1, continuation=token, measurement="m-a")


def test_a_damaged_record_is_listed_with_its_error_and_foreign_blobs_are_skipped(
    blob_zones: BlobZones,
) -> None:
    """An operator sees every record: a broken one names its blob; other blobs are not records."""
    good = _letter(blob_zones, 1, "m-a")
    damaged = f"{DEAD_LETTER_PREFIX}/on_changed/2026/12/07/090000-0123456789abcdef.json"
    blob_zones.write_bytes(Zone.ERROR, damaged, b"{not json")
    blob_zones.write_json(Zone.ERROR, f"{DEAD_LETTER_PREFIX}/on_changed/notes.json", {"x": 1})

    items = list_dead_letters(blob_zones).items

    assert [item.id for item in items] == [letter_id(damaged), good]
    assert items[0].reason.startswith("unreadable record: ")
    assert damaged in items[0].reason


def test_no_error_zone_container_means_no_dead_letters(azurite: AzuriteBlob) -> None:
    """Before anything was dead-lettered the error container may not exist: an empty page."""
    zones = BlobZones(
        ConnectionStringZones(
            azurite.connection_string, container_prefix=f"t{uuid.uuid4().hex[:12]}-"
        )
    )
    try:
        page = list_dead_letters(zones)
    finally:
        zones.close()
    assert (page.items, page.continuation) == ([], None)
