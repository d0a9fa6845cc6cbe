"""What ``small`` and ``large`` mean: resolutions, point counts and storage compression."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from avops.sample_drive.pointclouds import LidarModel

__all__ = ["PROFILES", "Profile", "Size"]

Size = Literal["small", "large"]


@dataclass(frozen=True)
class Profile:
    """Volume knobs of one drive size; the timeline and events are the same for every size."""

    name: Size
    camera_width: int
    camera_height: int
    jpeg_quality: int
    lidar: LidarModel
    # zstd chunk compression in the MCAP file: keeps ``small`` tiny (the synthetic pictures compress
    # well); ``large`` stays uncompressed like most loggers, so its volume is real.
    compress_mcap: bool


PROFILES: dict[Size, Profile] = {
    "small": Profile("small", 640, 360, 75, LidarModel(rings=8, columns=128), compress_mcap=True),
    "large": Profile(
        "large", 1280, 720, 90, LidarModel(rings=64, columns=1024), compress_mcap=False
    ),
}
