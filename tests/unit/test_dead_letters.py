"""A change-feed dead letter names the batch's documents and reason, never their bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dataops.dead_letters.records import (
    DEAD_LETTER_PREFIX,
    dead_letter_record,
    letter_id,
    letter_path,
    parse_letter_path,
)
from dataops.errors import InvalidInputError

NOW = datetime(2026, 12, 7, 5, 30, 12, tzinfo=UTC)


def test_a_record_keeps_identity_fields_only_under_a_dated_path() -> None:
    """id, measurement, type, state, etag and lsn per document; the rest of a body stays out."""
    document = {
        "id": "ds-1",
        "measurement_id": "m-1",
        "type": "EXTRACTED",
        "state": "COMPLETED",
        "_etag": '"e1"',
        "_lsn": 42,
        "path": "2026/12/07/VIN123/m-1/extracted",
        "stats": {"frames": 10},
    }
    path, record = dead_letter_record(
        function="on_datastream_changed",
        documents=[document],
        reason="ValueError: bad document\nTraceback (most recent call last): ...",
        attempts=9,
        now=NOW,
    )
    assert path.startswith(f"{DEAD_LETTER_PREFIX}/on_datastream_changed/2026/12/07/053012-")
    assert path.endswith(".json")
    assert record == {
        "function": "on_datastream_changed",
        "reason": "ValueError: bad document",
        "attempts": 9,
        "time": NOW.isoformat(),
        "documents": [
            {
                "id": "ds-1",
                "measurement_id": "m-1",
                "type": "EXTRACTED",
                "state": "COMPLETED",
                "_etag": '"e1"',
                "_lsn": "42",
            }
        ],
    }


def test_a_hostile_document_cannot_blow_up_the_record() -> None:
    """Huge or missing fields are cut or null; two batches at the same second get two paths."""
    hostile = {"id": "x" * 100_000, "state": ["not", "a", "string"]}
    path, record = dead_letter_record(
        function="f", documents=[hostile], reason="r" * 10_000, attempts=1, now=NOW
    )
    (kept,) = record["documents"]
    assert len(kept["id"]) == 256
    assert kept["measurement_id"] is None
    assert len(record["reason"]) == 2048
    other, _ = dead_letter_record(
        function="f", documents=[{"id": "y"}], reason="r", attempts=1, now=NOW
    )
    assert other != path


def test_a_record_id_is_derived_from_its_path_and_back() -> None:
    """The id the API shows maps to the record's path, pending or handed back, and back."""
    path, _ = dead_letter_record(
        function="on_datastream_changed",
        documents=[{"id": "ds-1"}],
        reason="r",
        attempts=1,
        now=NOW,
    )
    record_id = letter_id(path)
    assert record_id.startswith("on_datastream_changed.20261207.053012-")
    assert letter_path(record_id) == path
    moved = letter_path(record_id, redriven=True)
    assert moved.startswith(f"{DEAD_LETTER_PREFIX}/on_datastream_changed/redriven/2026/12/07/")
    pending, handed_back = parse_letter_path(path), parse_letter_path(moved)
    assert pending is not None and handed_back is not None
    assert (pending.id, pending.redriven) == (record_id, False)
    assert (handed_back.id, handed_back.redriven) == (record_id, True)
    assert pending.sort_key == handed_back.sort_key
    assert pending.sort_key.startswith("20261207053012-")


@pytest.mark.parametrize(
    "bad",
    [
        "on_datastream_changed",
        "on_datastream_changed.20261207.053012-XYZ",
        "../x.20261207.053012-0123456789abcdef",
        "f.2026120.053012-0123456789abcdef",
        "f.20261207.053012-0123456789abcdef.json",
    ],
    ids=["no-time", "bad-hash", "traversal", "short-day", "suffix"],
)
def test_an_id_of_another_form_is_a_clear_error_naming_the_field(bad: str) -> None:
    """Only ids of the derived form reach a blob path; others name the field ``id``."""
    with pytest.raises(InvalidInputError, match=r"^id: not a dead-letter id"):
        letter_path(bad)


@pytest.mark.parametrize(
    "path",
    [
        f"{DEAD_LETTER_PREFIX}/f/2026/12/07/053012-0123456789abcdef.txt",
        f"{DEAD_LETTER_PREFIX}/f/other/2026/12/07/053012-0123456789abcdef.json",
        f"{DEAD_LETTER_PREFIX}/2026/12/07/053012-0123456789abcdef.json",
        "elsewhere/f/2026/12/07/053012-0123456789abcdef.json",
    ],
    ids=["not-json", "unknown-folder", "no-function", "other-prefix"],
)
def test_blobs_that_are_no_record_of_ours_are_not_taken_for_one(path: str) -> None:
    """The listing skips anything under the prefix that the writer would not have written."""
    assert parse_letter_path(path) is None
    with pytest.raises(InvalidInputError, match="not a dead-letter path"):
        letter_id(path)
