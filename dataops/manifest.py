"""Parsing a manifest from bytes: size cap, UTF-8, shape limits, JSON, schema; errors by field.

The checks before the schema exist because the JSON decoder itself is the attack surface: a
12 KB document nested 6,000 deep exhausts the recursion limit, ``json.loads`` guesses UTF-16
from the first bytes, and a duplicate key silently keeps its last value (two tools reading
the same manifest could see two different files). Every refusal names the manifest and, where
there is one, the field path (``files[3].path``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from dataops.errors import InvalidInputError
from dataops.ids import derive_measurement_id
from dataops.models import Manifest

__all__ = [
    "DEFAULT_MAX_MANIFEST_BYTES",
    "MAX_DEPTH",
    "MAX_KEYS",
    "MAX_KEYS_PER_OBJECT",
    "field_path",
    "measurement_id_of",
    "parse_manifest",
]

DEFAULT_MAX_MANIFEST_BYTES = 1024 * 1024
# A valid manifest is 3 levels deep (root, files, file) with at most 10 keys per object and
# 4 per file; the limits leave room for growth and stop pathological documents early.
MAX_DEPTH = 16
MAX_KEYS_PER_OBJECT = 64
MAX_KEYS = 100_000
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class _DuplicateKeyObject(dict[str, Any]):
    """A JSON object that repeated ``key``; found again by :func:`_find_duplicate`."""

    duplicate: str = ""


class _KeyCounter:
    """``object_pairs_hook``: refuses too many keys and marks objects with a repeated key."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.total += len(pairs)
        if self.total > MAX_KEYS:
            raise _ShapeError(f"more than {MAX_KEYS} keys in the document")
        if len(pairs) > MAX_KEYS_PER_OBJECT:
            raise _ShapeError(f"an object with {len(pairs)} keys (limit {MAX_KEYS_PER_OBJECT})")
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        seen: set[str] = set()
        marked = _DuplicateKeyObject(obj)
        for key, _ in pairs:
            if key in seen:
                marked.duplicate = key
                break
            seen.add(key)
        return marked


class _ShapeError(ValueError):
    """The document's shape breaks a limit (raised from inside the decoder)."""


def _refuse_constant(name: str) -> Any:
    raise _ShapeError(f"{name} is not a JSON number")


def field_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """``("files", 3, "path")`` -> ``files[3].path``; the empty path is ``(root)``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def _check_depth(text: str, source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH without recursing (strings do not count)."""
    depth = 0
    # Blank out strings, keeping offsets, so brackets inside them are not counted.
    skeleton = _STRING.sub(lambda m: " " * len(m.group()), text)
    for match in _BRACKET.finditer(skeleton):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise InvalidInputError(
                f"nested deeper than {MAX_DEPTH} levels (at character {match.start()})",
                source=source,
            )


def _find_duplicate(value: Any, loc: tuple[int | str, ...] = ()) -> tuple[str, str] | None:
    """(field path, key) of the first object that repeated a key, depth-first."""
    if isinstance(value, _DuplicateKeyObject):
        return field_path((*loc, value.duplicate)), value.duplicate
    if not isinstance(value, dict | list):
        return None
    items: Any = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        found = _find_duplicate(child, (*loc, key))
        if found is not None:
            return found
    return None


def _decode(data: bytes, source: str) -> Any:
    if data.startswith(b"\xef\xbb\xbf"):
        raise InvalidInputError(
            "starts with a byte order mark; write UTF-8 without one", source=source
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInputError(
            f"not UTF-8 (byte {err.start} is invalid); write the manifest as UTF-8",
            source=source,
        ) from err
    _check_depth(text, source)
    try:
        document = json.loads(
            text, object_pairs_hook=_KeyCounter(), parse_constant=_refuse_constant
        )
    except _ShapeError as err:
        raise InvalidInputError(str(err), source=source) from err
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"not valid JSON: {err}", source=source) from err
    except RecursionError as err:  # the depth check above should make this unreachable
        raise InvalidInputError(f"nested too deep (limit {MAX_DEPTH})", source=source) from err
    duplicate = _find_duplicate(document)
    if duplicate is not None:
        path, key = duplicate
        raise InvalidInputError(
            f"key {key!r} appears more than once in one object", source=source, field=path
        )
    return document


def parse_manifest(
    data: bytes, *, source: str = "manifest.json", max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
) -> Manifest:
    """Validate manifest bytes; raise InvalidInputError naming the file and the field path."""
    if len(data) > max_bytes:
        raise InvalidInputError(
            f"manifest is {len(data)} bytes, more than the limit of {max_bytes}", source=source
        )
    document = _decode(data, source)
    if not isinstance(document, dict):
        raise InvalidInputError("top level must be a JSON object", source=source)
    try:
        return Manifest.model_validate(document)
    except ValidationError as err:
        first = err.errors()[0]
        more = f" (and {err.error_count() - 1} more errors)" if err.error_count() > 1 else ""
        raise InvalidInputError(
            f"{first['msg']}{more}", source=source, field=field_path(first["loc"])
        ) from err


def measurement_id_of(manifest: Manifest) -> str:
    """The manifest's own id, or the UUIDv5 derived from its content."""
    if manifest.measurement_id is not None:
        return manifest.measurement_id
    return derive_measurement_id(
        manifest.vehicle_id, manifest.recording_start, (f.sha256 for f in manifest.files)
    )
