"""Recognise a recording's format from its first bytes (never from the file name alone)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from extract_worker.errors import BadInputError, UnsupportedFormatError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["detect_format"]

_MAGICS = (
    (b"#ROSBAG V2.0\n", "ros1"),
    (b"\x89MCAP0\r\n", "mcap"),
    (b"MDF     ", "mdf"),
    (b"UnFinMF ", "mdf"),  # MDF 4 written by a logger that did not finish: asammdf repairs it
    (b"TDSm", "tdms"),
    (b"SQLite format 3\x00", "ros2"),
)


def detect_format(path: Path) -> str:
    """``ros1``, ``ros2`` (directory or .db3), ``mcap``, ``mdf`` or ``tdms``."""
    if not path.exists():
        raise BadInputError("input does not exist", path=str(path))
    if path.is_dir():
        if (path / "metadata.yaml").exists():
            return "ros2"
        raise UnsupportedFormatError(
            "directory is not a ROS 2 bag (no metadata.yaml)", path=str(path)
        )
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise BadInputError("empty file (0 bytes)", path=str(path), offset=0)
    for magic, fmt in _MAGICS:
        if head.startswith(magic):
            return fmt
    raise UnsupportedFormatError(
        f"unknown format (first bytes {head[:8]!r})", path=str(path), offset=0
    )
