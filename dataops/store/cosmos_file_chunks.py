"""A measurement's file records in Cosmos: a few items of many records each, in path order.

cosmosdb-server has no transactional batch, so one item per file would take one request per
file: 10,000 for the largest manifest. Records sorted by path and cut into chunks of
:data:`CHUNK_RECORDS` make 20 items instead; each stays far below the 2 MB item limit (a record
is at most a 1,024-character path plus format, size and hash: under 1.2 KB, so under 600 KB a
chunk). A chunk's id is derived from the measurement, its content hash and the chunk's number,
so writing the same records again (a retry, an idempotent re-create) overwrites the same items,
while a writer racing to create the same measurement id with other content writes other items:
a listing reads only the chunks of the content the stored document has, so the race's loser
can never replace the winner's records (its chunks stay unlisted until the measurement is
erased, which deletes every chunk of the measurement).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from dataops.models import FileRecord
from dataops.store.documents import dump

__all__ = ["CHUNK_KIND", "CHUNK_RECORDS", "chunk_documents", "records_after"]

CHUNK_RECORDS = 500
# The ``kind`` of a chunk item in the files container; a datastream's file records have a
# ``datastream_id`` instead.
CHUNK_KIND = "measurement_files"


def chunk_documents(
    measurement_id: str, content_sha256: str, records: Sequence[FileRecord]
) -> list[dict[str, Any]]:
    """The chunk items holding ``records`` (paths unique), numbered in path order.

    ``first_path``/``last_path`` are the chunk's smallest and largest path: a listing resuming
    after a path reads only the chunks whose ``last_path`` is beyond it.
    """
    ordered = sorted(records, key=lambda record: record.path)
    chunks: list[dict[str, Any]] = []
    for number, start in enumerate(range(0, len(ordered), CHUNK_RECORDS)):
        part = ordered[start : start + CHUNK_RECORDS]
        chunks.append(
            {
                "id": _chunk_id(measurement_id, content_sha256, number),
                "measurement_id": measurement_id,
                "content_sha256": content_sha256,
                "kind": CHUNK_KIND,
                "chunk": number,
                "first_path": part[0].path,
                "last_path": part[-1].path,
                "records": [dump(record) for record in part],
            }
        )
    return chunks


def records_after(
    chunks: Iterable[dict[str, Any]], after: str | None, wanted: int
) -> list[FileRecord]:
    """Up to ``wanted`` records of ``chunks`` (in chunk order) with a path beyond ``after``."""
    found: list[FileRecord] = []
    for chunk in chunks:
        for body in chunk["records"]:
            if after is not None and body["path"] <= after:
                continue
            found.append(FileRecord.model_validate(body))
            if len(found) == wanted:
                return found
    return found


def _chunk_id(measurement_id: str, content_sha256: str, number: int) -> str:
    # Measurement ids may hold characters Cosmos ids must not; a hash is a safe, fixed length.
    key = f"{CHUNK_KIND}\n{measurement_id}\n{content_sha256}\n{number}"
    return hashlib.sha256(key.encode()).hexdigest()
