"""A change-feed dead letter names the batch's documents and reason, never their bodies."""

from __future__ import annotations

from datetime import UTC, datetime

from dataops.dead_letters import DEAD_LETTER_PREFIX, dead_letter_record

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
