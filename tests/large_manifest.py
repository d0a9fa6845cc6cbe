"""A manifest listing many files, as a logger writes it: for the file-record tests and bench."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from dataops.models import Manifest

__all__ = ["RECORDED", "many_file_manifest"]

RECORDED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def many_file_manifest(count: int, *, variant: str = "") -> Manifest:
    """``count`` camera segments with long-ish paths; ``variant`` changes paths and hashes."""
    return Manifest.model_validate(
        {
            "schema_version": "1.0",
            "vehicle_id": "WVWZZZ1JZXW000001",
            "recording_start": RECORDED,
            "recording_end": RECORDED + timedelta(hours=1),
            "files": [
                {
                    "path": f"logger/front_camera/segment_{i:05d}{variant}.mcap",
                    "format": "mcap",
                    "size": 1_000_000 + i,
                    "sha256": hashlib.sha256(f"{i}{variant}".encode()).hexdigest(),
                }
                for i in range(count)
            ],
        }
    )
