"""Per-format readers behind one interface (:mod:`extract_worker.readers.base`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from extract_worker.readers.base import (
    CanFrames,
    MessageReader,
    RecordingReader,
    StreamInfo,
    TableReader,
    ValidationReport,
)
from extract_worker.readers.formats import detect_format

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig

__all__ = [
    "open_recording",
    "detect_format",
    "CanFrames",
    "MessageReader",
    "RecordingReader",
    "StreamInfo",
    "TableReader",
    "ValidationReport",
]


def open_recording(path: Path, config: ExtractConfig) -> RecordingReader:
    """The reader for ``path``'s format (not yet opened: use it as a context manager)."""
    fmt = detect_format(path)
    if fmt == "mcap":
        from extract_worker.readers.mcap_file import McapFileReader

        return McapFileReader(path, config)
    if fmt in {"ros1", "ros2"}:
        from extract_worker.readers.ros import RosReader

        return RosReader(path, config, fmt=fmt)
    if fmt == "mdf":
        from extract_worker.readers.mdf import MdfReader

        return MdfReader(path, config)
    from extract_worker.readers.tdms import TdmsReader

    return TdmsReader(path, config)
