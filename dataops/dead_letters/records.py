"""Dead letters of the change-feed consumer: a batch that failed its last attempt, on record.

In Azure the Cosmos DB trigger retries a failing batch only by the function's retry policy and
moves its lease on after the last failure, so whatever the last attempt could not do would be
gone without a trace. The consumer writes this record first: one JSON blob in the error zone per
batch, holding the reason and the identity of every document (id, measurement, type, state,
etag), never the documents' bodies. Operators list the records and hand a batch back through
the API (``GET /api/deadletters``, ``POST /api/deadletters/{id}/redrive``;
:mod:`dataops.dead_letters.redrive`), which moves a handed-back record under ``redriven/``.

A record's id is derived from its path and back (:func:`letter_id`, :func:`letter_path`):
``<function>.<yyyymmdd>.<hhmmss>-<hash>`` for
``_deadletters/changefeed/<function>/<yyyy>/<mm>/<dd>/<hhmmss>-<hash>.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dataops.errors import InvalidInputError
from dataops.paths import Zone

if TYPE_CHECKING:
    from dataops.storage.blob_zones import BlobZones

__all__ = [
    "DEAD_LETTER_PREFIX",
    "REDRIVEN",
    "LetterPath",
    "dead_letter_record",
    "letter_id",
    "letter_path",
    "parse_letter_path",
    "record_dead_letter",
]

# Under the error zone, apart from uploads' folders (which are named by date).
DEAD_LETTER_PREFIX = "_deadletters/changefeed"
# What a record keeps of each document: enough to find it again, nothing more.
_IDENTITY_FIELDS = ("id", "measurement_id", "type", "state", "_etag", "_lsn")
# A hostile or broken document cannot blow up the record.
_MAX_FIELD_CHARS = 256
_MAX_REASON_CHARS = 2048
# The folder under a function's records that holds the handed-back ones.
REDRIVEN = "redriven"
# A consumer's name is a Python function name; the rest of a path is what dead_letter_record
# writes. Anything else under the prefix is no record of ours.
_FUNCTION = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
_STEM = r"\d{6}-[0-9a-f]{16}"
_ID = re.compile(rf"^(?P<function>{_FUNCTION})\.(?P<day>\d{{8}})\.(?P<stem>{_STEM})$")
_PATH = re.compile(
    rf"^{re.escape(DEAD_LETTER_PREFIX)}/(?P<function>{_FUNCTION})/(?:(?P<redriven>{REDRIVEN})/)?"
    rf"(?P<y>\d{{4}})/(?P<m>\d{{2}})/(?P<d>\d{{2}})/(?P<stem>{_STEM})\.json$"
)


def _identity(document: Mapping[str, Any]) -> dict[str, str | None]:
    kept: dict[str, str | None] = {}
    for field in _IDENTITY_FIELDS:
        value = document.get(field)
        kept[field] = None if value is None else str(value)[:_MAX_FIELD_CHARS]
    return kept


def dead_letter_record(
    *,
    function: str,
    documents: Iterable[Mapping[str, Any]],
    reason: str,
    attempts: int,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The record of one failed batch and its path in the error zone (pure)."""
    moment = now or datetime.now(UTC)
    identities = [_identity(d) for d in documents]
    digest = hashlib.sha256(json.dumps(identities, sort_keys=True).encode()).hexdigest()[:16]
    path = f"{DEAD_LETTER_PREFIX}/{function}/{moment:%Y/%m/%d/%H%M%S}-{digest}.json"
    record = {
        "function": function,
        "reason": reason.splitlines()[0][:_MAX_REASON_CHARS] if reason else "",
        "attempts": attempts,
        "time": moment.isoformat(),
        "documents": identities,
    }
    return path, record


def record_dead_letter(
    zones: BlobZones,
    *,
    function: str,
    documents: Iterable[Mapping[str, Any]],
    reason: str,
    attempts: int,
    now: datetime | None = None,
) -> str:
    """Write the record of a failed batch to the error zone; returns its path."""
    path, record = dead_letter_record(
        function=function, documents=documents, reason=reason, attempts=attempts, now=now
    )
    zones.write_json(Zone.ERROR, path, record)
    return path


@dataclass(frozen=True)
class LetterPath:
    """Where a record lives, and its id."""

    id: str
    function: str
    sort_key: str
    """``<yyyymmdd><hhmmss>-<hash>``: the write time first, so newest-first is descending."""
    redriven: bool


def parse_letter_path(path: str) -> LetterPath | None:
    """The record at ``path`` (pending or handed back), or None when it is no record of ours."""
    match = _PATH.match(path)
    if match is None:
        return None
    day = f"{match['y']}{match['m']}{match['d']}"
    return LetterPath(
        id=f"{match['function']}.{day}.{match['stem']}",
        function=match["function"],
        sort_key=f"{day}{match['stem']}",
        redriven=match["redriven"] is not None,
    )


def letter_id(path: str) -> str:
    """The id of the record at ``path``; InvalidInputError if it is no record path."""
    parsed = parse_letter_path(path)
    if parsed is None:
        raise InvalidInputError(f"not a dead-letter path: {path[:300]!r}", field="path")
    return parsed.id


def letter_path(record_id: str, *, redriven: bool = False) -> str:
    """The path of record ``record_id``, pending or (``redriven``) handed back.

    InvalidInputError naming the field ``id`` unless it has the form ``letter_id`` gives.
    """
    match = _ID.match(record_id)
    if match is None:
        raise InvalidInputError(
            "not a dead-letter id (<function>.<yyyymmdd>.<hhmmss>-<16 hex digits>)", field="id"
        )
    day = match["day"]
    folder = f"{DEAD_LETTER_PREFIX}/{match['function']}"
    if redriven:
        folder += f"/{REDRIVEN}"
    return f"{folder}/{day[:4]}/{day[4:6]}/{day[6:]}/{match['stem']}.json"
