"""Every path segment taken from input is checked before it can reach a storage call."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dataops.errors import InvalidPathError
from dataops.paths import (
    MAX_PATH_LENGTH,
    MAX_SEGMENT_LENGTH,
    check_relative_path,
    check_segment,
    extracted_prefix,
    raw_path,
    slug,
)

HOSTILE_PATHS = [
    "../etc/passwd",
    "a/../../b",
    "/abs/path",
    "a\\b",
    "%2e%2e/x",
    "a/%2E%2e/b",
    "a/%2f/b",
    "nul\x00byte",
    "tab\tin",
    "line\nbreak",
    "a//b",
    "./a",
    "a/.",
    "trailing./x",
    " leading",
    "C:/windows",
    "zero\u200bwidth",
    "a\u2044b",  # FRACTION SLASH
    "a\u2215b",  # DIVISION SLASH
    "a\uff0fb",  # FULLWIDTH SOLIDUS
    "a\uff3cb",  # FULLWIDTH REVERSE SOLIDUS
    "\u2024\u2024/x",  # ONE DOT LEADER
    "\uff0e\uff0e/x",  # FULLWIDTH FULL STOP
    "\ufe52/x",  # SMALL FULL STOP
    "\u2025/x",  # TWO DOT LEADER
    "\u212bngstrom",  # ANGSTROM SIGN: NFKC turns it into A-ring
    "x" * (MAX_SEGMENT_LENGTH + 1),
    "/".join(["a" * 200] * 6),
    "",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_paths_are_rejected_with_the_field_named(path: str) -> None:
    with pytest.raises(InvalidPathError) as err:
        check_relative_path(path, field="files[0].path", source="landing/up1/manifest.json")
    assert "files[0].path" in str(err.value)
    assert "landing/up1/manifest.json" in str(err.value)


@pytest.mark.parametrize(
    "path",
    [
        "bag.mcap",
        "ros2/drive_0.mcap",
        "ros2/metadata.yaml",
        "a b/c-d_e.f",
        "x" * MAX_SEGMENT_LENGTH,
    ],
)
def test_ordinary_paths_pass_unchanged(path: str) -> None:
    assert check_relative_path(path) == path


def test_path_length_limit_is_enforced_on_the_whole_path() -> None:
    long_path = "/".join(["a" * 100] * 11)
    assert len(long_path) > MAX_PATH_LENGTH
    with pytest.raises(InvalidPathError, match="longer than"):
        check_relative_path(long_path)


def test_segment_refuses_separators() -> None:
    with pytest.raises(InvalidPathError, match="separator"):
        check_segment("a/b", field="vehicle_id")


def test_raw_path_uses_the_recording_date_not_today() -> None:
    start = datetime(2024, 2, 29, 23, 59, tzinfo=UTC)
    path = raw_path(start, "VIN-1", "m1", "ds1", "ros2/drive_0.mcap")
    assert path == "2024/02/29/VIN-1/m1/ds1/ros2/drive_0.mcap"


def test_raw_path_rejects_a_traversing_file_name() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidPathError):
        raw_path(start, "VIN-1", "m1", "ds1", "../../other/file")


def test_extracted_prefix_slugs_the_topic() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    prefix = extracted_prefix(
        start, "V1", "m", "d", sensor="camera", topic="/camera/front/image_raw"
    )
    assert prefix == "2024/01/01/V1/m/d/camera/camera_front_image_raw"


def test_slug_never_returns_a_traversal() -> None:
    assert slug("..") == "_"
    assert slug("/../..") == "_"
