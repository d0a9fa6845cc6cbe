"""Paging the dead letters in the error zone, newest first, for the API.

The records are few (one per batch that failed every attempt), so a page lists the blob names
under the prefix (the function's, when filtered), sorts them by the write time in the path and
reads only the records it returns (and those the measurement filter looks at). The
continuation is the store's keyset token (``dataops.store.continuation``): the last record's
sort key, bound to the filters it was issued for.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from dataops.dead_letters.models import DeadLetter, DeadLetterDocument, DeadLetterPage, Redrive
from dataops.dead_letters.records import DEAD_LETTER_PREFIX, LetterPath, parse_letter_path
from dataops.errors import DataOpsError, InvalidInputError, NotFoundError
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store.continuation import decode_token, encode_token, fingerprint

__all__ = ["MAX_RECORD_BYTES", "list_dead_letters", "read_letter", "to_dead_letter"]

log = logging.getLogger("avops.deadletters")

# A record holds identities only; a batch of the change feed is at most a few hundred documents.
MAX_RECORD_BYTES = 1 << 20
_LISTING = "deadletters"


def _letters(
    zones: BlobZones, function: str | None, redriven: bool
) -> list[tuple[LetterPath, str]]:
    """Every record under the prefix of this kind, newest first, with its path."""
    prefix = DEAD_LETTER_PREFIX if function is None else f"{DEAD_LETTER_PREFIX}/{function}"
    found: list[tuple[LetterPath, str]] = []
    try:
        for info in zones.list_blobs(Zone.ERROR, prefix):
            parsed = parse_letter_path(info.path)
            if (
                parsed is not None
                and parsed.redriven == redriven
                and (function is None or parsed.function == function)
            ):
                found.append((parsed, info.path))
    except NotFoundError:
        # No error zone container yet: nothing was ever dead-lettered into it.
        log.info("no error zone container: no dead letters")
        return []
    found.sort(key=lambda item: (item[0].sort_key, item[0].id), reverse=True)
    return found


def read_letter(zones: BlobZones, path: str) -> tuple[dict[str, Any], str]:
    """The record at ``path`` and its etag; InvalidInputError naming the blob if it is no
    JSON object, NotFoundError if it is gone."""
    record, etag = zones.read_json(Zone.ERROR, path, max_bytes=MAX_RECORD_BYTES)
    if not isinstance(record, dict):
        raise InvalidInputError("a dead letter must be a JSON object", source=path)
    return record, etag


def to_dead_letter(letter: LetterPath, record: dict[str, Any], source: str) -> DeadLetter:
    """The listed form of a record; InvalidInputError naming the blob and the field."""
    try:
        return DeadLetter(
            id=letter.id,
            function=letter.function,
            reason=record.get("reason", ""),
            attempts=record.get("attempts", 0),
            time=record.get("time"),
            documents=[DeadLetterDocument.model_validate(d) for d in record.get("documents", [])],
            redriven=(Redrive.model_validate(record["redrive"]) if record.get("redrive") else None),
            failed_redrives=[Redrive.model_validate(r) for r in record.get("failed_redrives", [])],
        )
    except (ValidationError, TypeError) as err:
        raise InvalidInputError(f"not a dead-letter record: {err}", source=source) from err


def _unreadable(letter: LetterPath, error: DataOpsError) -> DeadLetter:
    # One damaged blob must not hide the others from the operator: it is listed with its error.
    return DeadLetter(
        id=letter.id,
        function=letter.function,
        reason=f"unreadable record: {error}",
        attempts=0,
        time=None,
        documents=[],
    )


def _read(zones: BlobZones, letter: LetterPath, path: str) -> DeadLetter:
    try:
        return to_dead_letter(letter, read_letter(zones, path)[0], path)
    except InvalidInputError as err:
        return _unreadable(letter, err)


def list_dead_letters(
    zones: BlobZones,
    *,
    function: str | None = None,
    measurement: str | None = None,
    redriven: bool = False,
    limit: int = 100,
    continuation: str | None = None,
) -> DeadLetterPage:
    """One page of the pending (or, with ``redriven``, handed-back) dead letters, newest first.

    ``measurement`` keeps the records naming a document of that measurement. A page may come
    back short (even empty) with a continuation when the filter dropped records: follow it
    until it is None.
    """
    filters = fingerprint(function, measurement, redriven)
    letters = _letters(zones, function, redriven)
    if continuation is not None:
        after = decode_token(continuation, _LISTING, filters, 2)
        letters = [item for item in letters if [item[0].sort_key, item[0].id] < after]
    # A filtered page reads at most a few pages' worth of records per request.
    budget = limit * 4 if measurement is not None else limit
    items: list[DeadLetter] = []
    looked = 0
    for letter, path in letters[:budget]:
        looked += 1
        item = _read(zones, letter, path)
        if measurement is None or any(d.measurement_id == measurement for d in item.documents):
            items.append(item)
            if len(items) == limit:
                break
    if looked == len(letters):
        return DeadLetterPage(items=items, continuation=None)
    # The position is the last record looked at, matching or not.
    last = letters[looked - 1][0]
    return DeadLetterPage(
        items=items, continuation=encode_token(_LISTING, filters, [last.sort_key, last.id])
    )
