"""Opaque continuation tokens and change-feed checkpoints shared by both store backends.

A token is base64url of a small JSON object: which listing it belongs to, a fingerprint of the
filters it was issued for and the sort key of the last item returned (keyset pagination). The
backends always apply the caller's filters and only add "after this key" to them, so even a
hand-made token can only move the start of a page inside the caller's own result set; a garbled
token, or one from another listing or other filters, is an InvalidInputError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dataops.errors import InvalidInputError
from dataops.store.protocol import Page

__all__ = [
    "MAX_TOKEN_LENGTH",
    "Keyset",
    "decode_checkpoint",
    "decode_token",
    "encode_checkpoint",
    "encode_token",
    "fingerprint",
]

MAX_TOKEN_LENGTH = 4096
# The cosmos checkpoint lists the etags seen in its last second; allow a busy second's worth.
MAX_CHECKPOINT_LENGTH = 1_000_000
_VERSION = 1

R = TypeVar("R")
T = TypeVar("T")


def fingerprint(*parts: object) -> str:
    """Short stable hash of the filters a token was issued for."""
    text = json.dumps([str(part) if part is not None else None for part in parts])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _encode(body: dict[str, Any]) -> str:
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: object, *, field: str, max_length: int) -> dict[str, Any]:
    if not isinstance(text, str) or not text or len(text) > max_length:
        raise InvalidInputError("malformed token", field=field)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError) as err:
        raise InvalidInputError("malformed token", field=field) from err
    if not isinstance(body, dict) or body.get("v") != _VERSION:
        raise InvalidInputError("malformed token", field=field)
    return body


def encode_token(kind: str, filters: str, position: list[str]) -> str:
    """Token resuming listing ``kind`` (filter fingerprint ``filters``) after ``position``."""
    return _encode({"v": _VERSION, "k": kind, "f": filters, "p": position})


def decode_token(token: str, kind: str, filters: str, arity: int) -> list[str]:
    """The sort key stored in ``token``; InvalidInputError unless it fits this listing exactly."""
    body = _decode(token, field="continuation", max_length=MAX_TOKEN_LENGTH)
    position = body.get("p")
    if (
        body.get("k") != kind
        or body.get("f") != filters
        or not isinstance(position, list)
        or len(position) != arity
        or not all(isinstance(item, str) and len(item) <= 1024 for item in position)
    ):
        raise InvalidInputError(
            "continuation token does not belong to this query", field="continuation"
        )
    return position


def encode_checkpoint(backend: str, container: str, state: dict[str, Any]) -> str:
    """Checkpoint string for ``container``'s change feed on ``backend``."""
    return _encode({"v": _VERSION, "b": backend, "c": container, "s": state})


def decode_checkpoint(checkpoint: str, backend: str, container: str) -> dict[str, Any]:
    """The backend state stored in ``checkpoint``; InvalidInputError if it is not one of ours."""
    body = _decode(checkpoint, field="checkpoint", max_length=MAX_CHECKPOINT_LENGTH)
    state = body.get("s")
    if body.get("b") != backend or body.get("c") != container or not isinstance(state, dict):
        raise InvalidInputError(
            f"checkpoint is not a {backend} checkpoint of {container}", field="checkpoint"
        )
    return state


@dataclass(frozen=True)
class Keyset:
    """One keyset-paginated listing: its kind, the fingerprint of its filters, its sort key.

    ``columns`` are the sort key's columns (in the backend's own spelling), most significant
    first, all ascending or, with ``descending``, all descending. Each backend turns
    :meth:`after_clause` into its query language; the page and its token are built here.
    """

    kind: str
    filters: str
    columns: tuple[str, ...]
    descending: bool = False

    def position(self, continuation: str | None) -> list[str] | None:
        """The sort key the page starts after (None: the first page); checked to be ours."""
        if continuation is None:
            return None
        return decode_token(continuation, self.kind, self.filters, len(self.columns))

    def after_clause(self, placeholders: Sequence[str]) -> str:
        """``(k1 > p1 OR (k1 = p1 AND (k2 > p2 ...)))``: rows after a key, in sort order.

        ``placeholders`` name the key's values in the query, one per column; a placeholder that
        is used more than once appears more than once (positional backends repeat its value).
        """
        comparison = "<" if self.descending else ">"
        pairs = list(zip(self.columns, placeholders, strict=True))
        clause = f"{pairs[-1][0]} {comparison} {pairs[-1][1]}"
        for column, placeholder in reversed(pairs[:-1]):
            clause = (
                f"({column} {comparison} {placeholder} OR ({column} = {placeholder} AND {clause}))"
            )
        return clause

    def order_by(self) -> str:
        """The ORDER BY list matching the key."""
        suffix = " DESC" if self.descending else ""
        return ", ".join(f"{column}{suffix}" for column in self.columns)

    def page(
        self,
        rows: Sequence[R],
        limit: int,
        *,
        item: Callable[[R], T],
        key: Callable[[R], list[str]],
    ) -> Page[T]:
        """The first ``limit`` of ``rows`` (fetched ``limit + 1``), and a token when more follow."""
        token = None
        if len(rows) > limit:
            token = encode_token(self.kind, self.filters, key(rows[limit - 1]))
        return Page(items=[item(row) for row in rows[:limit]], continuation=token)
