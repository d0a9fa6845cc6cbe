"""Zones and the one validated builder for every blob path.

Every segment that comes from input (vehicle id, ids, file names) passes
:func:`check_segment` before it is joined into a path, so a hostile manifest is rejected
before any storage call is made.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from enum import StrEnum

from dataops.errors import InvalidPathError

__all__ = [
    "LOOKALIKES",
    "MAX_PATH_LENGTH",
    "MAX_SEGMENT_LENGTH",
    "Zone",
    "check_relative_path",
    "check_segment",
    "date_prefix",
    "error_marker_path",
    "extracted_prefix",
    "join_path",
    "raw_path",
    "raw_prefix",
    "slug",
]

MAX_SEGMENT_LENGTH = 255
MAX_PATH_LENGTH = 1024
# Percent-escapes are refused outright: a later URL decode could turn "%2e%2e" into "..".
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Characters that look like a separator or a dot. A tool that folds look-alikes (NFKC,
# a "smart" file browser, a font) would see a different path than the one that was checked:
# "a\u2215..\u2215b" reads as "a/../b". NFKC already changes the full-width and leader
# forms; the rest have no decomposition and are listed.
LOOKALIKES = frozenset(
    "\u2044\u2215\u29f8\u2571\u27cb\u3033\uff0f\u1735"  # slash-likes
    "\u2216\u29f5\u29f9\u2572\u27cd\ufe68\uff3c"  # backslash-likes
    "\u2024\u2025\u2026\ufe52\uff0e\u3002\uff61\u00b7\u2027\u0701\u0702\ua4f8"  # dot-likes
)


class Zone(StrEnum):
    """Storage zones: one container each on Azurite, one storage account each in Azure."""

    LANDING = "landing"
    RAW = "raw"
    ARCHIVE = "archive"
    ERROR = "error"
    EXTRACTED = "extracted"
    CURATED = "curated"
    SHARE = "share"
    LABELED = "labeled"


def check_segment(segment: str, *, field: str = "path", source: str | None = None) -> str:
    """Return ``segment`` unchanged if it is one safe path segment, else raise InvalidPathError."""
    if not isinstance(segment, str) or segment == "":
        raise InvalidPathError("empty path segment", source=source, field=field)
    if len(segment) > MAX_SEGMENT_LENGTH:
        raise InvalidPathError(
            f"segment longer than {MAX_SEGMENT_LENGTH} characters", source=source, field=field
        )
    if segment in {".", ".."}:
        raise InvalidPathError(f"relative segment {segment!r}", source=source, field=field)
    if "/" in segment or "\\" in segment:
        raise InvalidPathError(f"separator in segment {segment!r}", source=source, field=field)
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in segment):
        raise InvalidPathError(
            f"control character in segment {segment!r}", source=source, field=field
        )
    lookalike = next((ch for ch in segment if ch in LOOKALIKES), None)
    if lookalike is not None:
        raise InvalidPathError(
            f"U+{ord(lookalike):04X} {unicodedata.name(lookalike, '')} looks like a path"
            f" separator or dot in segment {segment!r}",
            source=source,
            field=field,
        )
    if unicodedata.normalize("NFKC", segment) != segment:
        raise InvalidPathError(
            f"segment {segment!r} changes under Unicode NFKC normalization (to "
            f"{unicodedata.normalize('NFKC', segment)!r}); use the normalized form",
            source=source,
            field=field,
        )
    if _PERCENT_ESCAPE.search(segment):
        raise InvalidPathError(f"percent-escape in segment {segment!r}", source=source, field=field)
    if segment != segment.strip():
        raise InvalidPathError(
            f"leading or trailing whitespace in {segment!r}", source=source, field=field
        )
    if segment.endswith("."):
        # Trailing dots are stripped by Windows and by some blob tools: "a." would alias "a".
        raise InvalidPathError(f"trailing dot in segment {segment!r}", source=source, field=field)
    if ":" in segment:
        raise InvalidPathError(f"colon in segment {segment!r}", source=source, field=field)
    return segment


def check_relative_path(path: str, *, field: str = "path", source: str | None = None) -> str:
    """Return ``path`` if it is a safe relative POSIX path of checked segments."""
    if not isinstance(path, str) or path == "":
        raise InvalidPathError("empty path", source=source, field=field)
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPathError(
            f"path longer than {MAX_PATH_LENGTH} characters", source=source, field=field
        )
    if path.startswith("/"):
        raise InvalidPathError(f"absolute path {path!r}", source=source, field=field)
    if "\\" in path:
        raise InvalidPathError(f"backslash in path {path!r}", source=source, field=field)
    for segment in path.split("/"):
        check_segment(segment, field=field, source=source)
    return path


def join_path(*parts: str) -> str:
    """Join already-checked relative paths with '/'."""
    return "/".join(part.strip("/") for part in parts if part)


def slug(text: str) -> str:
    """A path-safe name for free text, e.g. a ROS topic: ``/camera/front`` -> ``camera_front``."""
    cleaned = _SLUG_UNSAFE.sub("_", text).strip("._")
    return cleaned[:MAX_SEGMENT_LENGTH] or "_"


def date_prefix(recording_start: datetime) -> str:
    """``YYYY/MM/DD`` of the recording start (UTC), never the upload time."""
    return recording_start.strftime("%Y/%m/%d")


def raw_prefix(
    recording_start: datetime, vehicle_id: str, measurement_id: str, datastream_id: str
) -> str:
    """Folder of one RAW datastream in the raw zone."""
    return join_path(
        date_prefix(recording_start),
        check_segment(vehicle_id, field="vehicle_id"),
        check_segment(measurement_id, field="measurement_id"),
        check_segment(datastream_id, field="datastream_id"),
    )


def raw_path(
    recording_start: datetime,
    vehicle_id: str,
    measurement_id: str,
    datastream_id: str,
    file_path: str,
) -> str:
    """Blob path of one uploaded file in the raw zone."""
    return join_path(
        raw_prefix(recording_start, vehicle_id, measurement_id, datastream_id),
        check_relative_path(file_path, field="files.path"),
    )


def extracted_prefix(
    recording_start: datetime,
    vehicle_id: str,
    measurement_id: str,
    datastream_id: str,
    *,
    sensor: str | None = None,
    topic: str | None = None,
) -> str:
    """Folder of an EXTRACTED (or curated) datastream, optionally of one sensor and topic."""
    parts = [raw_prefix(recording_start, vehicle_id, measurement_id, datastream_id)]
    if sensor is not None:
        parts.append(check_segment(sensor, field="sensor"))
    if topic is not None:
        parts.append(check_segment(slug(topic), field="topic"))
    return join_path(*parts)


def error_marker_path(upload_prefix: str) -> str:
    """Where ``_error.json`` goes in the error zone for an upload."""
    return join_path(check_relative_path(upload_prefix, field="upload_prefix"), "_error.json")
