"""Upload manifests as the tests write them: one document shape for every ingest test."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import Any

# Formats by file ending; a ROS 2 bag is a folder (``ros2/``) whatever its files end in.
_FORMATS_BY_SUFFIX = {".bag": "rosbag1", ".mf4": "mdf4"}


def file_format(path: str) -> str:
    """The manifest ``format`` of ``path``: ``ros2/...`` is a ROS 2 bag, else by its ending."""
    if path.startswith("ros2/"):
        return "rosbag2"
    return _FORMATS_BY_SUFFIX.get(PurePosixPath(path).suffix, "rosbag1")


def manifest_doc(files: dict[str, bytes], *, vehicle_id: str, **extra: Any) -> dict[str, Any]:
    """A valid manifest listing ``files`` with their real size and SHA-256, plus ``extra``."""
    return {
        "schema_version": "1.0",
        "vehicle_id": vehicle_id,
        "recording_start": "2026-05-04T10:00:00Z",
        "recording_end": "2026-05-04T10:05:00Z",
        "files": [
            {
                "path": path,
                "format": file_format(path),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for path, data in files.items()
        ],
        **extra,
    }
